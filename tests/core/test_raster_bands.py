"""Which image encoder fits a raster, and which raster bands feed its bands."""

import os

import numpy as np
import pytest
from gdal_files import make_tif, ramp_bands
from osgeo import gdal

from terralens.plugin.core.band_names import SENTINEL2_L2A
from terralens.plugin.core.bundle import BundleError
from terralens.plugin.core.raster import RasterError, RasterSource, read_window
from terralens.plugin.core.raster_bands import choose_bands, choose_image_spec
from terralens.plugin.core.tiled_raster import TileSettings, open_tiled
from terralens.plugin.core.tiling import Window

S2 = list(SENTINEL2_L2A)


@pytest.fixture(scope="module")
def scenes(shared_data):
    """The real Sentinel-2 patch (12 bands, UInt16) used here."""
    return {"s2": shared_data / "scenes" / "satclip_s2" / "patch_25630.tif"}


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


def test_unknown_encoder_name_is_a_clear_raster_error(sensors, tmp_path):
    path = ramp_bands(tmp_path, 3)
    with pytest.raises((RasterError, BundleError), match="no image encoder 'nir'"):
        open_tiled(path, sensors, TileSettings(encoder="nir"))


def test_sentinel2_band_mapping(scenes):
    with RasterSource(scenes["s2"]) as source:
        assert source.band_count == 12 and source.bands == [1, 2, 3]
    with RasterSource(scenes["s2"], bands="4,3,2") as source:
        assert source.bands == [4, 3, 2]
        pixels, _ = read_window(source, Window(0, 0, 256, 256), 128)
        assert pixels.shape == (3, 128, 128)
        fp = source.fingerprint()
    stat = scenes["s2"].stat()
    assert fp == {"path": os.path.abspath(scenes["s2"]), "size": stat.st_size,
                  "mtime": stat.st_mtime,
                  "width": 256, "height": 256, "bands": [4, 3, 2], "data_type": "UInt16"}
    with pytest.raises(RasterError, match="names band 13, but the raster has 12 bands"):
        RasterSource(scenes["s2"], bands=[13, 3, 2])
    with pytest.raises(RasterError, match="takes 3 bands .* names 2"):
        RasterSource(scenes["s2"], bands=[4, 3])
    with pytest.raises(RasterError, match="1-based band numbers"):
        RasterSource(scenes["s2"], bands="red,green")
    with pytest.raises(RasterError, match="names band 0"):
        RasterSource(scenes["s2"], bands=[0, 1, 2])


def test_thirteen_bands_any_mapping(tmp_path):
    arrays = [np.full((20, 20), 100 * number) for number in range(1, 14)]
    path = make_tif(tmp_path / "b13.tif", arrays)
    with RasterSource(path) as source:
        assert source.bands == [1, 2, 3]
    with RasterSource(path, bands=[13, 12, 11], value_range=(0, 1300)) as source:
        pixels, _ = read_window(source, Window(0, 0, 20, 20), 8)
    np.testing.assert_allclose(pixels[:, 0, 0], [1.0, 1200 / 1300, 1100 / 1300], rtol=1e-6)
    with RasterSource(path, bands=7) as source:  # one number feeds every model band
        assert source.bands == [7, 7, 7]
