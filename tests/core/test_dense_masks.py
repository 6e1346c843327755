"""Dense prompt masks: overlap, thresholds chosen by Otsu, and why a mask is empty."""

import numpy as np
import pytest
from gdal_files import make_tif

from terralens.plugin.core import dense_masks
from terralens.plugin.core.mask_grid import FineGrid
from terralens.plugin.core.raster import RasterSource
from terralens.plugin.core.tiling import Window


def test_otsu_threshold_splits_two_groups():
    values = np.concatenate([np.full(900, 0.1), np.full(100, 0.6)]).astype(np.float32)
    assert 0.1 < dense_masks.otsu_threshold(values) <= 0.6


def test_choose_threshold_says_how_it_chose():
    probability = np.array([[0.1, 0.2], [0.7, np.nan]], np.float32)
    value, rule = dense_masks.choose_threshold(probability)
    assert 0.2 < value <= 0.7 and "Otsu" in rule
    assert dense_masks.choose_threshold(probability, 0.5) == (0.5, "fixed threshold 0.5")
    flat, rule = dense_masks.choose_threshold(np.full((3, 3), 0.4, np.float32))
    assert flat == pytest.approx(0.4) and "everywhere" in rule


def test_empty_reason_names_the_highest_probability():
    probability = np.array([[0.1, 0.3]], np.float32)
    assert dense_masks.empty_reason(probability, 0.2, "fixed threshold 0.2") is None
    reason = dense_masks.empty_reason(probability, 0.5, "fixed threshold 0.5")
    assert "0.300" in reason and "automatic" in reason
    assert "no tile" in dense_masks.empty_reason(np.full((2, 2), np.nan), 0.5, "x")


def test_dense_overlap_starts_a_tile_every_fraction_of_a_cell():
    assert dense_masks.dense_overlap(4, 1) == pytest.approx(0.75)
    assert dense_masks.dense_overlap(4, 2) == pytest.approx(1 - 1 / 8)


def test_a_prompt_that_never_beats_an_even_split_is_told():
    probability = np.array([[0.10, 0.13], [np.nan, 0.12]], np.float32)
    assert "highest probability 0.130, an even split 0.143" in dense_masks.never_wins(
        probability, 6)
    assert dense_masks.never_wins(probability, 0) is None  # no background: nothing to beat
    probability[0, 0] = 0.5
    assert dense_masks.never_wins(probability, 6) is None


def test_a_coarser_probability_map_still_ends_on_the_raster_edges(tmp_path):
    # 301 x 203 pixels of 2 m, at most 64 output pixels a side: output pixels of about 5 raster
    # pixels that do not divide the raster. Dark left half, bright right half.
    image = np.zeros((203, 301), np.uint8)
    image[:, 151:] = 200
    path = make_tif(tmp_path / "halves.tif", [image] * 3, epsg=32633,
                    geotransform=(400000.0, 2.0, 0.0, 5e6, 0.0, -2.0))
    with RasterSource(path) as source:
        grid = FineGrid(source.width, source.height, source.geotransform, 10, 1)
        grid.add(Window(0, 0, 151, 203), np.zeros((1, 4, 4)))
        grid.add(Window(151, 0, 150, 203), np.ones((1, 4, 4)))
        values, g = dense_masks.upsample_to_raster(grid, source, max_side=64)
    assert values.shape == (41, 61)
    assert g[0] + 61 * g[1] == pytest.approx(400000.0 + 301 * 2.0)
    assert g[3] + 41 * g[5] == pytest.approx(5e6 - 203 * 2.0)
    edge_x = g[0] + np.argmax(values[20] > 0.5) * g[1]  # the first bright output pixel
    assert abs(edge_x - (400000.0 + 151 * 2.0)) <= g[1]
