"""Mosaics: tile values stitched onto a bounded grid, overlaps averaged, gaps marked."""

import numpy as np

from terralens.plugin.core.mosaic import Mosaic, VectorMosaic, resize_bilinear
from terralens.plugin.core.tiling import Window


def test_mosaic_averages_overlaps_and_marks_gaps():
    mosaic = Mosaic(20, 10, (0, 1, 0, 10, 0, -1), max_side=20)
    mosaic.add(Window(0, 0, 10, 10), np.ones((2, 2)))
    mosaic.add(Window(5, 0, 10, 10), np.zeros((2, 2)))
    out = mosaic.result()
    assert out[:, :5].min() == 1 and np.isnan(out[:, 15:]).all()
    assert 0 < out[5, 7] < 1
    assert resize_bilinear(np.eye(2), 4, 4).shape == (4, 4)


def test_vector_mosaic_paints_every_band_as_a_mosaic_a_band_would():
    windows = [Window(0, 0, 10, 10), Window(5, 0, 10, 10), Window(12, 3, 8, 7)]
    values = np.random.default_rng(0).random((3, 4)).astype(np.float32)
    vector = VectorMosaic(20, 10, (0, 1, 0, 10, 0, -1), bands=4, max_side=8)
    singles = [Mosaic(20, 10, (0, 1, 0, 10, 0, -1), max_side=8) for _ in range(4)]
    for window, row in zip(windows, values):
        vector.add(window, row)
        for mosaic, value in zip(singles, row):
            mosaic.add(window, value)
    expected = np.stack([m.result() for m in singles])
    np.testing.assert_allclose(vector.result(), expected, rtol=1e-6)
    assert vector.result().shape == (4, 4, 7) and vector.geotransform == singles[0].geotransform


def test_mosaic_grid_ends_on_the_raster_edges_when_cells_do_not_divide_it():
    # 1000 x 700 pixels of 2 m on a 64-cell grid: cells of 16 pixels would overshoot the
    # raster's right and bottom edges by 8 and 4 pixels.
    geotransform = (500.0, 2.0, 0.0, 9000.0, 0.0, -2.0)
    mosaic = Mosaic(1000, 700, geotransform, max_side=64)
    g = mosaic.geotransform
    assert g[0] + mosaic.cols * g[1] == 500.0 + 1000 * 2.0
    assert g[3] + mosaic.rows * g[5] == 9000.0 - 700 * 2.0
    # A tile over the right half lands on the grid's right half, to the nearest cell.
    mosaic.add(Window(500, 0, 500, 700), 1.0)
    painted = np.flatnonzero(np.isfinite(mosaic.result()[0]))
    first_x = g[0] + painted[0] * g[1]
    assert abs(first_x - (500.0 + 500 * 2.0)) <= abs(g[1])
    assert painted[-1] == mosaic.cols - 1
