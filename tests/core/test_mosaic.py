"""Mosaics: tile values stitched onto a bounded grid, overlaps averaged, gaps marked."""

import numpy as np

from terralens.plugin.core.mosaic import Mosaic, resize_bilinear
from terralens.plugin.core.tiling import Window


def test_mosaic_averages_overlaps_and_marks_gaps():
    mosaic = Mosaic(20, 10, (0, 1, 0, 10, 0, -1), max_side=20)
    mosaic.add(Window(0, 0, 10, 10), np.ones((2, 2)))
    mosaic.add(Window(5, 0, 10, 10), np.zeros((2, 2)))
    out = mosaic.result()
    assert out[:, :5].min() == 1 and np.isnan(out[:, 15:]).all()
    assert 0 < out[5, 7] < 1
    assert resize_bilinear(np.eye(2), 4, 4).shape == (4, 4)
