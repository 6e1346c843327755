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
