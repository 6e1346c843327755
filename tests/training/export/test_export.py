"""Bundle export: parity, the plugin's loader, --text-only, failed exports, open_clip models."""

import json
import shutil

import numpy as np
import onnxruntime
import open_clip
import pytest
import torch
from torch.nn.functional import normalize

from terralens.plugin.core.encoders import load_model
from training.export import export, onnx_export
from training.export.parity import parity_captions, parity_images
from training.model import model as tl
from training.model.checkpoint import load_checkpoint, save_checkpoint

SIZE = 64
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A "trained" 64 px model: random image tower, a projection that is not the identity."""
    torch.manual_seed(7)
    model = tl.create_model(image_size=SIZE, pretrained=False).train()
    with torch.no_grad():
        model.text.proj.weight.add_(torch.randn(384, 384) * 0.05)
        model.logit_scale.fill_(4.0)
        model.encode_image(torch.randn(8, 3, SIZE, SIZE))  # moves BatchNorm statistics
    path = tmp_path_factory.mktemp("run") / "best.safetensors"
    save_checkpoint(model.eval(), path, {"recipe": {"name": "test", "model": {"image_size": SIZE}},
                                         "git_revision": "abc123", "epoch": 3})
    return path


@pytest.fixture(scope="module")
def reference(checkpoint):
    model = tl.create_model(image_size=SIZE, pretrained=True)
    load_checkpoint(model, checkpoint)
    return model.eval()


@pytest.fixture(scope="module")
def bundle_dir(checkpoint, tmp_path_factory, shared_data):
    folder = tmp_path_factory.mktemp("models") / "terralens-test"
    evaluation = folder.parent / "eval.json"
    evaluation.write_text(json.dumps({"ucm_zero_shot_top1": 12.5}))
    code = export.main(["--checkpoint", str(checkpoint), "--out", str(folder), "--gsd-m", "0.3",
                        "--evaluation", str(evaluation), "--parity-data", str(shared_data)])
    assert code == 0
    return folder


def test_export_writes_a_complete_bundle(bundle_dir):
    assert {p.name for p in bundle_dir.iterdir()} == {
        "bundle.json", "image.onnx", "text.onnx", "text_projection.safetensors", "MODEL_CARD.md"}
    assert [p.name for p in bundle_dir.parent.iterdir() if p.name.startswith(".")] == []
    data = json.loads((bundle_dir / "bundle.json").read_text())
    assert data["id"] == "terralens-test" and data["tile_size"] == SIZE and data["gsd_m"] == 0.3
    assert data["logit_scale"] == pytest.approx(np.exp(4.0), rel=1e-3)
    assert data["image"]["dense_grid"] == 2 and data["image"]["mean"] == [0.5, 0.5, 0.5]
    assert data["text"]["vocab_file"] == "builtin:vocab.txt"
    provenance = data["provenance"]
    assert provenance["git_revision"] == "abc123" and provenance["recipe"]["name"] == "test"
    assert provenance["evaluation"] == {"ucm_zero_shot_top1": 12.5}
    assert provenance["text_precision"] == "fp32"
    assert "scale" not in data  # its provenance names no training data: tiled at gsd_m
    for output in ("image_embeds", "dense_features", "text_embeds"):
        assert provenance["parity"][output]["min"] >= 0.999


def test_plugin_loader_gives_the_torch_embeddings(bundle_dir, reference, shared_data):
    loaded = load_model(bundle_dir)
    pixels = parity_images(SIZE, shared_data, count=6)
    captions = parity_captions(shared_data, count=10)
    embeds, dense = loaded.image.encode(pixels)
    texts = loaded.text.encode(captions)
    x = (torch.from_numpy(pixels) - 0.5) / 0.5
    with torch.no_grad():
        ref_embeds, ref_dense = reference.encode_image_dense(x)
        ref_texts = reference.encode_text(*tl.tokenize(captions), normalize=True)
    assert dense.shape == (6, 384, 2, 2)
    assert (embeds * normalize(ref_embeds, dim=-1).numpy()).sum(1).min() > 0.999
    assert (dense * normalize(ref_dense, dim=1).numpy()).sum(1).min() > 0.999
    assert (texts * ref_texts.numpy()).sum(1).min() > 0.999
    # and the embeddings are not all alike: the check above could not pass by accident
    assert (embeds @ embeds.T)[~np.eye(6, dtype=bool)].min() < 0.99


def test_text_only_rebuilds_the_same_text_model(bundle_dir, tmp_path):
    copy = tmp_path / "terralens-test"
    shutil.copytree(bundle_dir, copy)
    (copy / "text.onnx").unlink()
    assert export.main(["--text-only", "--out", str(copy)]) == 0
    feeds = dict(zip(("input_ids", "attention_mask"),
                     (t.numpy() for t in tl.tokenize(["two tennis courts", "a dense forest"]))))
    rebuilt, original = (onnxruntime.InferenceSession(str(folder / "text.onnx")).run(None, feeds)[0]
                         for folder in (copy, bundle_dir))
    np.testing.assert_allclose(rebuilt, original, atol=1e-5)
    assert export.export_text_only(copy) is False  # up to date: nothing rebuilt


def test_a_broken_export_fails_and_leaves_the_old_folder(checkpoint, bundle_dir, monkeypatch,
                                                         tmp_path, shared_data, capsys):
    def broken(self, pixel_values):
        embeds, dense = self.model.encode_image_dense(pixel_values)
        return embeds.flip(-1), dense
    monkeypatch.setattr(onnx_export.TerraLensImage, "forward", broken)
    old = tmp_path / "models" / "old"
    shutil.copytree(bundle_dir, old)
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    for out in (old, tmp_path / "models" / "new"):
        code = export.main(["--checkpoint", str(checkpoint), "--out", str(out),
                            "--parity-data", str(shared_data)])
        assert code == 1
        assert "image_embeds: min cosine" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before
    assert [p.name for p in old.parent.iterdir()] == ["old"]


def test_open_clip_model_exports_with_clip_tokenizer_and_dense_map(tmp_path, shared_data,
                                                                     tiny_vit):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "tiny-vit-test.json").write_text(json.dumps(tiny_vit))
    open_clip.add_model_config(tmp_path / "configs")
    torch.manual_seed(3)
    torch.save(open_clip.create_model("tiny-vit-test").state_dict(), tmp_path / "tiny.pt")
    out = tmp_path / "tiny-vit"
    assert export.main(["--open-clip-model", "tiny-vit-test", "--open-clip-checkpoint",
                        str(tmp_path / "tiny.pt"), "--out", str(out), "--text-precision", "fp16",
                        "--parity-data", str(shared_data)]) == 0
    data = json.loads((out / "bundle.json").read_text())
    assert data["text"]["tokenizer"] == "clip_bpe" and data["text"]["attention_mask_name"] == ""
    assert data["image"]["dense_grid"] == 4 and data["embedding_dim"] == 32
    assert data["provenance"]["parity"]["text_embeds"]["min"] >= 0.999
    loaded = load_model(out)
    assert loaded.text.encode(["a river"]).shape == (1, 32)
