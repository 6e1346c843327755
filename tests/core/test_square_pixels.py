"""Rasters read as square ground pixels: which ones, at which side, and when not."""

import numpy as np
import pytest
from gdal_files import make_tif

from terralens.plugin.core.raster import dataset_pixel_size_m, open_dataset
from terralens.plugin.core.square_pixels import (
    FINER,
    MAX_PIXEL_FACTOR,
    MEAN,
    squared_view,
    why_not_squared,
)

AT_60_NORTH = (10.0, 1e-4, 0.0, 60.0, 0.0, -1e-4)  # pixels about 5.6 x 11.1 m


def opened(tmp_path, geotransform, epsg=4326, name="r.tif"):
    path = make_tif(tmp_path / name, [np.full((200, 100), 7)] * 3, epsg=epsg,
                    geotransform=geotransform)
    dataset = open_dataset(path)
    return dataset, dataset_pixel_size_m(dataset)


def test_the_side_is_the_shorter_or_the_geometric_mean(tmp_path):
    dataset, size = opened(tmp_path, AT_60_NORTH)
    finer, record = squared_view(dataset, FINER)
    assert record["pixel_m"] == pytest.approx(min(size), abs=1e-3)
    assert (finer.RasterXSize, finer.RasterYSize) == (100, 399)
    mean, record = squared_view(dataset, MEAN)
    assert record["pixel_m"] == pytest.approx(np.sqrt(size[0] * size[1]), abs=1e-3)
    assert mean.RasterXSize * mean.RasterYSize == pytest.approx(100 * 200, rel=0.01)
    assert np.all(finer.ReadAsArray() == 7)  # resampled, not changed
    with pytest.raises(ValueError, match="side must be"):
        squared_view(dataset, "coarser")


def test_a_polar_raster_costs_at_most_a_bounded_factor_of_its_pixels(tmp_path):
    # At 87 N a degree of longitude is 19 times shorter than one of latitude: squaring on the
    # shorter side would read 19 times the pixels.
    dataset, size = opened(tmp_path, (10.0, 1e-4, 0.0, 87.0, 0.0, -1e-4))
    assert max(size) / min(size) > 15
    view, record = squared_view(dataset)
    factor = view.RasterXSize * view.RasterYSize / (100 * 200)
    assert factor == pytest.approx(MAX_PIXEL_FACTOR, rel=0.02)
    assert record["pixel_m"] > min(size)


def test_square_rotated_and_unknown_pixels_are_left_alone(tmp_path):
    projected, size = opened(tmp_path, (400000.0, 2.0, 0.0, 5e6, 0.0, -2.0), epsg=32633)
    assert squared_view(projected) == (projected, None)
    assert why_not_squared(projected, *size) == "its pixels are square enough"
    rotated, size = opened(tmp_path, (10.0, 1e-4, 1e-5, 60.0, 0.0, -1e-4), name="rot.tif")
    assert squared_view(rotated)[1] is None
    assert why_not_squared(rotated, *size) == "it has no north-up geotransform"
    assert why_not_squared(projected, 0.0, 2.0) == "its pixel size is unknown"
