"""Tile settings resolved against a bundle, and rasters opened for a model with them."""

import numpy as np
import pytest
from gdal_files import make_tif

from terralens.plugin.core.raster import RasterError
from terralens.plugin.core.tiled_raster import TileSettings, open_tiled


def test_s2_encoder_reads_its_bands_at_its_own_gsd(sensors, shared_data):
    s2_path = shared_data / "scenes" / "satclip_s2" / "patch_25630.tif"
    tiled = open_tiled(s2_path, sensors, TileSettings(tile_size=64))
    assert tiled.encoder.spec.name == "s2"
    assert tiled.source.bands == list(range(1, 13))
    assert tiled.tile_px == 64  # 64 model pixels at the encoder's 10 m on a 10 m raster
    rgb = open_tiled(s2_path, sensors, TileSettings(tile_size=64, encoder="rgb"))
    assert rgb.encoder.spec.name == "rgb" and rgb.source.bands == [1, 2, 3]


def test_a_tile_swallowing_a_large_raster_is_warned_about(wordpiece_model, ortho, tmp_path):
    coarse = open_tiled(ortho, wordpiece_model, TileSettings(tile_size=64, gsd_m=2.0))
    assert len(coarse.windows) == 1 and len(coarse.warnings) == 1
    assert "the whole raster (1243 x 841 pixels) fits in one tile" in coarse.warnings[0]
    assert "Ground sample distance" in coarse.warnings[0]
    assert open_tiled(ortho, wordpiece_model, TileSettings(tile_size=64, gsd_m=0)).warnings == []
    chip = make_tif(tmp_path / "chip.tif", [np.ones((100, 100))] * 3)
    assert open_tiled(chip, wordpiece_model, TileSettings(tile_size=64, gsd_m=5.0)).warnings == []


@pytest.mark.parametrize("size, tile", [((1, 1), 8), ((3, 500), 64), ((30, 50), 241)])
def test_rasters_too_small_for_their_tiles_are_refused(wordpiece_model, tmp_path, size, tile):
    path = make_tif(tmp_path / "small.tif", [np.ones(size)] * 3)
    with pytest.raises(RasterError, match="too small"):
        open_tiled(path, wordpiece_model, TileSettings(tile_size=tile, gsd_m=0))


def test_an_extent_works_on_its_own_pixels(wordpiece_model, tmp_path):
    """A small extent of a large raster: only its area is opened, at least a tile a side."""
    path = make_tif(tmp_path / "big.tif", [np.ones((1500, 2000))] * 3)  # 2 m from (400000, 5e6)
    extent = (402000.0, 4998000.0, 402020.0, 4998010.0)  # 10 x 5 pixels at column 1000, row 995
    tiled = open_tiled(path, wordpiece_model, TileSettings(tile_size=64, gsd_m=0, extent=extent))
    assert tiled.source.area == (973, 966, 1037, 1030)  # 64 x 64 around the extent
    assert len(tiled.windows) == 1
    whole = open_tiled(path, wordpiece_model,
                       TileSettings(tile_size=64, gsd_m=0, extent=(0, 0, 1e7, 1e7)))
    assert whole.source.area is None
