"""WiSE-FT: exact endpoints of the weight mix, fine-tuning that learns, evaluation of every mix."""

import csv
import json

import numpy as np
import open_clip
import pytest
import torch

from training.model.model import create_model
from training.wiseft.evaluate import load_suite, seen_images
from training.wiseft.tune import (
    OpenClipSubject,
    TerraLensSubject,
    finetune,
    load_caption_data,
)
from training.wiseft.wiseft import (
    WiseFtError,
    evaluate_alphas,
    interpolate,
    parse_alphas,
)

SIZE = 64
IMAGES = 8
NO_AUGMENT = {"enabled": False}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared 2-core machine: a second OpenMP thread only waits
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_tsv(shared_data, tmp_path_factory):
    """The first UCM-Captions train image of 8 classes, one caption each (real images)."""
    with open(shared_data / "captions_ucm.tsv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    firsts = {}
    for row in rows:
        if row["split"] == "train":
            firsts.setdefault(row["scene_class"], row)
    path = tmp_path_factory.mktemp("wiseft") / "tiny.tsv"
    lines = ["split\timage\tscene_class\tcaption"] + [
        "\t".join((r["split"], r["image"], r["scene_class"], r["caption"]))
        for r in list(firsts.values())[:IMAGES]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data(tiny_tsv, shared_data):
    return load_caption_data(tiny_tsv, "train", SIZE, image_root=shared_data)


@pytest.fixture(scope="module")
def tuned(data):
    """A TerraLens model fine-tuned 6 steps on the 8 images: (subject, start, end, summary)."""
    torch.manual_seed(0)
    subject = TerraLensSubject(create_model(SIZE), SIZE, "test")
    start = subject.state()
    summary = finetune(subject, data, epochs=6, batch_size=IMAGES, lr=1e-3,
                       augment_cfg=NO_AUGMENT)
    return subject, start, subject.state(), summary


def test_caption_data_holds_the_real_images_and_their_captions(data):
    assert data.images.shape == (IMAGES, SIZE, SIZE, 3) and data.images.dtype == torch.uint8
    assert len(data.texts) == IMAGES and [len(r) for r in data.caption_rows] == [1] * IMAGES
    assert data.images.float().std() > 20  # real pictures, not blanks


def test_fine_tuning_moves_the_trained_tensors_and_lowers_the_loss(tuned):
    subject, start, end, summary = tuned
    assert summary["steps"] == 6 and summary["epochs"] == 6
    assert summary["probe_loss_after"] < 0.8 * summary["probe_loss_before"], summary
    moved = {key for key in start if not torch.equal(start[key], end[key])}
    assert any(k.startswith("visual.trunk.") and "weight" in k for k in moved)
    assert "text.proj.weight" in moved and "logit_scale" in moved
    assert any(k.endswith("running_mean") for k in moved)  # BatchNorm statistics moved too
    assert not any(k.startswith("text.transformer") for k in start)  # MiniLM stays frozen


def test_alpha_0_and_1_are_the_endpoints_exactly_and_0_5_the_midpoint(tuned):
    subject, start, end, _ = tuned
    for alpha, expected in ((0.0, start), (1.0, end)):
        mixed = interpolate(start, end, alpha)
        assert all(torch.equal(mixed[k], expected[k]) for k in start), alpha
    half = interpolate(start, end, 0.5)
    for key in start:
        if start[key].is_floating_point():
            torch.testing.assert_close(half[key], (start[key] + end[key]) / 2, rtol=0,
                                       atol=1e-6)
    counter = next(k for k in start if k.endswith("num_batches_tracked"))
    assert half[counter] == torch.round((start[counter] + end[counter]).double() / 2)
    subject.load_state(interpolate(start, end, 0.0))
    assert all(torch.equal(subject.state()[k], start[k]) for k in start)
    subject.load_state(end)


def test_mismatched_state_dicts_and_bad_alphas_are_refused(tuned):
    _, start, end, _ = tuned
    with pytest.raises(WiseFtError, match="different tensors"):
        interpolate(start, {k: v for k, v in end.items() if k != "logit_scale"}, 0.5)
    assert parse_alphas("0,0.25,1") == (0.0, 0.25, 1.0)
    for bad in ("0,1.5", "a,b", ""):
        with pytest.raises(WiseFtError, match="--alphas"):
            parse_alphas(bad)


def test_every_alpha_is_evaluated_on_real_sets(tuned, data, shared_data):
    subject, start, end, _ = tuned
    suite = load_suite(shared_data, SIZE, limit=1, zero_shot_sets=("rsscn7",),
                       retrieval_sets=("ucm_captions_test",))
    assert suite.pixels.shape == (7 + 21, 3, SIZE, SIZE)
    rows = evaluate_alphas(subject, start, end, (0.0, 1.0), suite, progress=False)
    assert [r["alpha"] for r in rows] == [0.0, 1.0]
    for row in rows:
        assert 0 <= row["zeroshot_rsscn7_top1"] <= 100
        assert 0 < row["ucm_captions_test_mean_recall"] <= 100
        assert row["details"]["retrieval"]["ucm_captions_test"]["captions"] == 21 * 5
    assert rows[0]["details"] != rows[1]["details"]  # the two endpoints embed differently
    assert all(torch.equal(subject.state()[k], end[k]) for k in end)  # left fine-tuned
    assert seen_images(suite, data.paths) == {"rsscn7": 0, "ucm_captions_test": 0}
    json.dumps(rows, allow_nan=False)


def test_open_clip_model_with_a_frozen_text_tower(data, tmp_path, tiny_vit):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "tiny-vit-wiseft.json").write_text(json.dumps(tiny_vit))
    open_clip.add_model_config(tmp_path / "configs")
    torch.manual_seed(3)
    subject = OpenClipSubject(open_clip.create_model("tiny-vit-wiseft"), "tiny-vit-wiseft",
                              "random", freeze_text=True)
    start = subject.state()
    assert "logit_scale" in start and not any(k.startswith("transformer.") for k in start)
    summary = finetune(subject, data, epochs=2, batch_size=IMAGES, lr=1e-3,
                       augment_cfg=NO_AUGMENT)
    end = subject.state()
    assert summary["steps"] == 2
    assert any(not torch.equal(start[k], end[k]) for k in start if k.startswith("visual."))
    saved = subject.save(tmp_path / "finetuned", {"note": "test"})
    subject.load_state(interpolate(start, end, 0.0))
    subject.load_saved(saved)
    assert all(torch.equal(subject.state()[k], end[k]) for k in end)
    assert np.isfinite(summary["probe_loss_after"])
