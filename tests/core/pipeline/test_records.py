"""What identifies a result: model fingerprints change with the encoder file, provenance records."""

import os
import shutil

from terralens.plugin.core import pipeline
from terralens.plugin.core.encoders import load_model
from terralens.plugin.core.outputs import read_metadata
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


def test_provenance_and_outputs_record_the_scale_used(wordpiece_model, spacenet, tmp_path):
    tiled = open_tiled(spacenet, wordpiece_model, TileSettings(tile_size=64, gsd_m=2.0))
    scale = provenance(wordpiece_model, tiled)["scale"]
    assert scale["how"] == "given" and scale["tile_px"] == 256 == tiled.tile_px
    assert scale["gsd_m"] == 2.0 and scale["raster_gsd_m"] == 0.5
    assert scale["tile_ground_m"] == 128.0 and scale["upsampling"] == 0.25
    out = tmp_path / "labels.gpkg"
    pipeline.label_raster(spacenet, wordpiece_model, "a, b", out,
                          TileSettings(tile_size=64, gsd_m=2.0))
    assert read_metadata(out)["scale"] == scale
