"""Two rasters on one grid: overlap in the first one's CRS, the second warped onto the first."""

import pytest
from gdal_files import make_tif
from osgeo import gdal

from terralens.plugin.core.common_grid import bounds, on_same_grid, overlap, warped_onto


def test_overlap_of_a_raster_and_its_copy_in_lon_lat(spacenet, tmp_path):
    geographic = str(tmp_path / "geo.tif")
    gdal.Warp(geographic, spacenet, dstSRS="EPSG:4326")
    first, second = gdal.Open(spacenet), gdal.Open(geographic)
    box, own = overlap(first, second), bounds(first)
    assert all(abs(a - b) < 1.0 for a, b in zip(box, own)), "the copy covers the whole scene"
    back = overlap(second, first)
    assert -85 < back[0] < back[2] < -84 and 33 < back[1] < back[3] < 34, "in degrees"
    assert not on_same_grid(first, second) and on_same_grid(first, gdal.Open(spacenet))


def test_rasters_far_apart_do_not_overlap(spacenet, tmp_path):
    elsewhere = make_tif(tmp_path / "far.tif", [[[1, 2], [3, 4]]], epsg=32616,
                         geotransform=(100000.0, 1.0, 0.0, 1000000.0, 0.0, -1.0))
    with pytest.raises(ValueError, match="do not overlap"):
        overlap(gdal.Open(spacenet), gdal.Open(elsewhere))


def test_warped_vrt_is_on_the_first_grid_and_made_once(spacenet, tmp_path):
    geographic = str(tmp_path / "geo.tif")
    gdal.Warp(geographic, spacenet, dstSRS="EPSG:4326")
    grid = gdal.Open(spacenet)
    path = warped_onto(geographic, grid, tmp_path / "warped")
    vrt = gdal.Open(str(path))
    assert on_same_grid(grid, vrt) and vrt.RasterCount == 2, "the band and an alpha band"
    assert vrt.GetRasterBand(2).GetColorInterpretation() == gdal.GCI_AlphaBand
    mtime = path.stat().st_mtime
    assert warped_onto(geographic, grid, tmp_path / "warped") == path
    assert path.stat().st_mtime == mtime, "the same pair reuses its VRT (and its index)"
