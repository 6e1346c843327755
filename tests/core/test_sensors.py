"""Image encoders for other band sets: which one a raster gets, and the band-adapter chain."""

import numpy as np
import pytest
from osgeo import gdal
from test_raster import make_tif

from terralens.plugin.core import pipeline
from terralens.plugin.core.band_names import SENTINEL2_L2A
from terralens.plugin.core.bundle import BundleError
from terralens.plugin.core.encoders import load_model
from terralens.plugin.core.onnx_session import l2_normalise
from terralens.plugin.core.raster import RasterError
from terralens.plugin.core.raster_bands import choose_bands, choose_image_spec
from terralens.plugin.core.tiled_raster import TileSettings, open_tiled

S2 = list(SENTINEL2_L2A)


@pytest.fixture(scope="module")
def sensors(repo_root):
    return load_model(repo_root / "tests" / "data" / "tiny-sensors")


def ramp_bands(tmp_path, count, name="r.tif", size=32, descriptions=None):
    rng = np.random.default_rng(count)
    arrays = [rng.integers(100, 4000, size=(size, size)) for _ in range(count)]
    path = make_tif(tmp_path / name, arrays)
    if descriptions:
        ds = gdal.Open(str(path), gdal.GA_Update)
        for number, text in enumerate(descriptions, start=1):
            ds.GetRasterBand(number).SetDescription(text)
        ds = None
    return path


def test_bundle_lists_every_encoder(sensors):
    assert list(sensors.images) == ["rgb", "pan", "s2"]
    assert sensors.image is sensors.images["rgb"]
    assert sensors.images["s2"].spec.bands == S2
    assert sensors.location is not None


@pytest.mark.parametrize("count, expected", [(1, "pan"), (3, "rgb"), (4, "rgb"), (12, "s2"),
                                             (13, "s2")])
def test_encoder_fits_the_raster_bands(sensors, tmp_path, count, expected):
    path = ramp_bands(tmp_path, count)
    assert choose_image_spec(sensors.bundle, gdal.Open(str(path))).name == expected


def test_band_mapping_and_name_choose_the_encoder(sensors, tmp_path):
    dataset = gdal.Open(str(ramp_bands(tmp_path, 12)))
    assert choose_image_spec(sensors.bundle, dataset, bands="4,3,2").name == "rgb"
    assert choose_image_spec(sensors.bundle, dataset, bands="8").name == "pan"
    assert choose_image_spec(sensors.bundle, dataset, requested="rgb").name == "rgb"
    with pytest.raises(BundleError, match="no image encoder 'sar'.*rgb, pan, s2"):
        choose_image_spec(sensors.bundle, dataset, requested="sar")


def test_thirteen_band_l1c_skips_the_cirrus_band(tmp_path):
    dataset = gdal.Open(str(ramp_bands(tmp_path, 13)))
    assert choose_bands(dataset, None, 12, S2) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13]


def test_band_descriptions_map_bands_by_name(tmp_path):
    shuffled = list(reversed(S2))
    dataset = gdal.Open(str(ramp_bands(tmp_path, 12, descriptions=shuffled)))
    assert choose_bands(dataset, None, 12, S2) == [12 - i for i in range(12)]


def test_adapter_feeds_the_main_encoder(sensors):
    pixels = np.random.default_rng(0).random((3, 1, 64, 64), dtype=np.float32)
    normalised = (pixels - 0.5) / 0.5
    adapted = np.concatenate([normalised, 0.5 * normalised, -normalised], axis=1)
    main = sensors.image
    expected = main.session.run([main.spec.embedding_output],
                                {main.spec.input_name: adapted.astype(np.float32)})[0]
    np.testing.assert_allclose(sensors.images["pan"].encode_embeddings(pixels),
                               l2_normalise(expected, axis=1), atol=1e-5)


def test_s2_encoder_reads_its_bands_at_its_own_gsd(sensors, shared_data):
    s2_path = shared_data / "scenes" / "satclip_s2" / "patch_25630.tif"
    tiled = open_tiled(s2_path, sensors, TileSettings(tile_size=64))
    assert tiled.encoder.spec.name == "s2"
    assert tiled.source.bands == list(range(1, 13))
    assert tiled.tile_px == 64  # 64 model pixels at the encoder's 10 m on a 10 m raster
    rgb = open_tiled(s2_path, sensors, TileSettings(tile_size=64, encoder="rgb"))
    assert rgb.encoder.spec.name == "rgb" and rgb.source.bands == [1, 2, 3]


def test_pan_raster_labelled_with_pan_encoder(sensors, tmp_path):
    path = ramp_bands(tmp_path, 1, size=96)
    out = tmp_path / "labels.gpkg"
    pipeline.label_raster(path, sensors, "forest, river", out, TileSettings(tile_size=32))
    from terralens.plugin.core.outputs import read_metadata
    assert read_metadata(out)["image_encoder"] == "pan"


def test_index_cache_tells_encoders_apart(sensors, tmp_path):
    path = ramp_bands(tmp_path, 1, size=64)
    settings = TileSettings(tile_size=32)
    _, auto_path, _ = pipeline.index_raster(path, sensors, settings, cache_dir=tmp_path)
    rgb_settings = TileSettings(tile_size=32, encoder="rgb")
    _, rgb_path, reused = pipeline.index_raster(path, sensors, rgb_settings, cache_dir=tmp_path)
    assert rgb_path != auto_path and not reused


def test_unknown_encoder_name_is_a_clear_raster_error(sensors, tmp_path):
    path = ramp_bands(tmp_path, 3)
    with pytest.raises((RasterError, BundleError), match="no image encoder 'nir'"):
        open_tiled(path, sensors, TileSettings(encoder="nir"))
