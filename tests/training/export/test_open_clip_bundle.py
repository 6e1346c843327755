"""Bring your own model: open_clip checkpoints saved as RemoteCLIP, GeoRSCLIP and SkyCLIP do.

Random-init models of the real architectures stand in for the published weights (nothing is
downloaded): their speed and shapes are real, their scores meaningless. The core pipeline runs
in the QGIS venv (GDAL lives there, torch does not), in a subprocess.
"""

import json
import os
import subprocess

import numpy as np
import open_clip
import pytest
import torch

from terralens.plugin.core.encoders import load_model
from training.export import export, parity
from training.export.open_clip_bundle import load_open_clip

pytestmark = pytest.mark.slow

# name: (checkpoint layout exported, embedding dim, dense grid, dense stride, image precision)
ARCHITECTURES = {
    "RN50": ("state_dict", 1024, 7, 32, "fp32"),      # RemoteCLIP, GeoRSCLIP: plain state dict
    "ViT-B-32": ("training", 512, 7, 32, "fp32"),     # SkyCLIP: open_clip training checkpoint
    "ViT-L-14": ("state_dict", 768, 16, 14, "fp16"),  # 1.2 GB of fp32 image weights halved
}

CORE_RUN = """
import json, sys
from osgeo import gdal
from terralens.plugin.core import pipeline
from terralens.plugin.core.encoders import load_model
bundle, ortho, out = sys.argv[1:4]
crop = gdal.Translate(f"{out}/crop.tif", ortho, srcWin=[398, 308, 448, 224])
crop = None  # closes the file
model = load_model(bundle)
labels = pipeline.label_raster(f"{out}/crop.tif", model, "forest, road, roof, grass",
                               f"{out}/labels.gpkg")
masks = pipeline.prompt_mask(f"{out}/crop.tif", model, "roof", f"{out}/mask.gpkg",
                             probability_path=f"{out}/probability.tif")
print(json.dumps({"labels": labels, "masks": masks}))
"""


def random_state(name, seed=0):
    """The state dict of a seeded random-init open_clip model."""
    torch.manual_seed(seed)
    return open_clip.create_model(name, pretrained=None).state_dict()


def save_checkpoint(state, path, layout):
    """Save `state` in a layout users bring; returns the file written.

    "state_dict": RemoteCLIP's and GeoRSCLIP's; "training": open_clip's trainer's (SkyCLIP's);
    "safetensors": `path` with that suffix.
    """
    if layout == "safetensors":
        from safetensors.torch import save_file
        save_file({key: value.contiguous() for key, value in state.items()},
                  str(path.with_suffix(".safetensors")))
        return path.with_suffix(".safetensors")
    if layout == "training":  # what open_clip's trainer (and SkyCLIP) write
        state = {"epoch": 20, "name": "random", "optimizer": {"state": {}},
                 "state_dict": {f"module.{key}": value for key, value in state.items()}}
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def rn50(tmp_path_factory):
    """(state, {layout: path}) of one random RN50 saved in every layout accepted."""
    folder = tmp_path_factory.mktemp("rn50")
    state = random_state("RN50")
    return state, {layout: save_checkpoint(state, folder / f"{layout}.pt", layout)
                   for layout in ("state_dict", "training", "safetensors")}


@pytest.fixture(scope="module", params=list(ARCHITECTURES))
def exported(request, tmp_path_factory, shared_data):
    """(architecture, bundle folder) exported from a random checkpoint of that architecture."""
    name = request.param
    layout, *_, precision = ARCHITECTURES[name]
    folder = tmp_path_factory.mktemp(name)
    save_checkpoint(random_state(name), folder / "checkpoint.pt", layout)
    out = folder / "bundle"
    with pytest.MonkeyPatch.context() as patch:
        # A quarter of the exporter's sample: ViT-L-14's parity run on 16 images takes minutes.
        patch.setattr(parity, "N_IMAGES", 4)
        patch.setattr(parity, "N_CAPTIONS", 16)
        code = export.main(["--open-clip-model", name, "--open-clip-checkpoint",
                            str(folder / "checkpoint.pt"), "--out", str(out),
                            "--image-precision", precision, "--parity-data", str(shared_data)])
    assert code == 0
    (folder / "checkpoint.pt").unlink()  # up to 1.7 GB
    return name, out


def test_every_accepted_layout_loads_the_same_weights(rn50):
    state, paths = rn50
    for path in paths.values():
        loaded = load_open_clip("RN50", path).state_dict()
        assert loaded.keys() == state.keys()
        assert all(torch.equal(loaded[key], value) for key, value in state.items())


def test_a_checkpoint_of_another_architecture_fails_naming_the_model(rn50, tmp_path, capsys):
    code = export.main(["--open-clip-model", "ViT-B-32", "--open-clip-checkpoint",
                        str(rn50[1]["training"]), "--out", str(tmp_path / "bundle")])
    assert code == 1
    error = capsys.readouterr().err
    assert "does not fit open_clip's ViT-B-32" in error and "ResNet image tower" in error
    assert not (tmp_path / "bundle").exists()


def test_export_passes_parity_with_clip_tokenizer_and_dense_grid(exported):
    name, out = exported
    _, dim, grid, stride, precision = ARCHITECTURES[name]
    data = json.loads((out / "bundle.json").read_text())
    parity = data["provenance"]["parity"]
    assert (parity["images"], parity["captions"]) == (4, 16)
    for output in ("image_embeds", "dense_features", "text_embeds"):
        assert parity[output]["min"] >= parity[output]["threshold"] >= 0.999
    assert data["provenance"]["image_precision"] == precision
    assert data["text"]["tokenizer"] == "clip_bpe" and data["text"]["context_length"] == 77
    assert data["image"]["size"] == 224 and data["embedding_dim"] == dim
    model = load_model(out)
    embeds, dense = model.image.encode(np.zeros((1, 3, 224, 224), np.float32))
    assert embeds.shape == (1, dim) and dense.shape == (1, dim, grid, grid)
    assert (model.bundle.image.dense_grid, model.bundle.image.dense_stride) == (grid, stride)
    assert model.text.encode(["a river"]).shape == (1, dim)


def test_core_pipeline_labels_and_masks_a_real_raster(exported, repo_root, ortho, tmp_path):
    name, out = exported
    grid = ARCHITECTURES[name][2]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run([str(repo_root / ".venv" / "bin" / "python"), "-c", CORE_RUN,
                           str(out), ortho, str(tmp_path)], capture_output=True, text=True,
                          env=env)  # the QGIS venv, not this one
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["labels"]["tiles_encoded"] == 2  # 448 x 224 px crop, 224 px tiles, native GSD
    assert sum(result["labels"]["label_counts"].values()) == 2
    # prompt masks' dense method starts a tile every cell (224 / grid px) along the crop
    assert result["masks"]["tiles_encoded"] == (448 - 224) // (224 // grid) + 1
    assert result["masks"]["polygons"] >= 0
    assert (tmp_path / "mask.gpkg").is_file() and (tmp_path / "probability.tif").is_file()

