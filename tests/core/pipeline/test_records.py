"""What identifies a result: model fingerprints change with the encoder file, provenance records."""

import os
import shutil

from terralens.plugin.core.encoders import load_model
from terralens.plugin.core.pipeline import model_fingerprint, provenance
from terralens.plugin.core.tiled_raster import TileSettings, open_tiled


def test_fingerprint_names_the_encoder_and_follows_its_file(tiny, tmp_path):
    copy = shutil.copytree(tiny, tmp_path / "bundle")
    model = load_model(copy)
    first = model_fingerprint(model)
    assert first["id"] == "tiny-wordpiece" and first["encoder"] == "rgb"
    assert first["image_size"] == (copy / "image.onnx").stat().st_size
    os.utime(copy / "image.onnx", (1, 1))
    assert model_fingerprint(model) != first


def test_provenance_records_model_raster_tiling_and_parameters(wordpiece_model, spacenet):
    tiled = open_tiled(spacenet, wordpiece_model, TileSettings(tile_size=128, overlap=0.25))
    record = provenance(wordpiece_model, tiled, labels=["a", "b"])
    assert record["model_id"] == "tiny-wordpiece" and record["image_encoder"] == "rgb"
    assert record["raster"]["path"].endswith("spacenet_atlanta_pan.tif")
    assert record["tiling"]["tile_px"] == tiled.tile_px
    assert record["tiling"]["overlap"] == 0.25 and record["tiling"]["overlap_px"] > 0
    assert record["scaling"]["rule"] == "percentile"
    assert record["parameters"] == {"labels": ["a", "b"]}
