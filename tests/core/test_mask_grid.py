"""Dense prompt masks: fine grid of overlapping tiles, guided upsampling, automatic threshold."""

import numpy as np

from terralens.plugin.core.mask_grid import (
    FineGrid,
    cell_means,
    fill_gaps,
    joint_bilateral_upsample,
)
from terralens.plugin.core.tiling import Window, tile_windows


def test_fine_grid_puts_each_cell_at_its_centre():
    grid = FineGrid(16, 16, (0, 1, 0, 16, 0, -1), step=4, channels=1)
    values = np.arange(4, dtype=np.float32).reshape(1, 2, 2)
    grid.add(Window(0, 0, 16, 16), values)  # cells of 8 px: centres at 4 and 12
    out = grid.result()
    assert out.shape == (1, 4, 4)
    assert out[0, 1, 1] == 0 and out[0, 1, 3] == 1 and out[0, 3, 1] == 2 and out[0, 3, 3] == 3
    assert np.isfinite(out).all()  # cells between centres are filled from their neighbours


def test_shifted_tiles_sample_the_scene_finer_than_one_tile():
    """Overlapping tiles of a scene that changes every 4 px resolve it on a 4 px grid."""
    truth = (np.arange(32) // 4) % 2  # stripes 4 px wide along columns
    grid = FineGrid(32, 8, (0, 1, 0, 8, 0, -1), step=4, channels=1)
    for window in tile_windows(32, 8, 8, overlap_px=4):
        cols = window.col + np.array([2, 6])  # the two 4-px cells of an 8-px tile, 2x1 rows
        cell = truth[cols].astype(np.float32)
        grid.add(window, np.tile(cell, (2, 1))[None])
    assert np.array_equal(grid.result()[0, 0], truth[2::4].astype(np.float32))


def test_fill_gaps_stops_after_a_few_cells():
    values = np.full((1, 1, 10), np.nan, np.float32)
    values[0, 0, 0] = 1
    filled = fill_gaps(values, 3)
    assert np.isfinite(filled[0, 0, :4]).all() and np.isnan(filled[0, 0, 4:]).all()


def test_joint_bilateral_upsampling_follows_an_image_edge():
    guide = np.zeros((1, 16, 16), np.float32)
    guide[:, :, 7:] = 1  # the edge sits inside the second of four 4-px cells
    low = np.array([[[0, 0, 1, 1]] * 4], np.float32)
    low_guide = cell_means(guide, 4, 4, 4)
    sharp = joint_bilateral_upsample(low, low_guide, guide, step=4, sigma_range=0.1)[0]
    blurred = joint_bilateral_upsample(low, low_guide, guide, step=4, sigma_range=1e3)[0]
    assert sharp.shape == (16, 16)
    assert sharp[:, :6].max() < 0.3 and sharp[:, 8:].min() > 0.7
    # without the colour term the edge is a ramp across the cells
    assert np.abs(sharp[:, 5] - 0).max() < np.abs(blurred[:, 5] - 0).max()


def test_joint_bilateral_upsampling_skips_unscored_cells():
    low = np.array([[[np.nan, 1.0]]], np.float32)
    guide = np.zeros((1, 4, 8), np.float32)
    out = joint_bilateral_upsample(low, cell_means(guide, 4, 1, 2), guide, step=4, radius=1)
    assert np.allclose(out, 1.0)
