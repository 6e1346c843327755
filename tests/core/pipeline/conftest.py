"""Fixtures of the job tests: a raster whose tiles lie at different places (location prior)."""

import pytest
from gdal_files import wide_utm_raster


@pytest.fixture()
def raster(tmp_path):
    """96 x 96 px RGB in UTM 33N with 20 km pixels (see `gdal_files.wide_utm_raster`)."""
    return wide_utm_raster(tmp_path / "rgb.tif")
