"""Prompt-mask maths: probabilities, the Smooth-Attention-Operation, mosaics, polygons."""

import numpy as np
import pytest
from osgeo import osr

from terralens.plugin.core import masks


def utm_wkt():
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32616)
    return srs.ExportToWkt()


def test_prompt_probability_prefers_matching_locations():
    dense = np.zeros((1, 2, 2, 2), np.float32)
    dense[0, 0, 0, :] = 1  # top row looks like the prompt
    dense[0, 1, 1, :] = 1  # bottom row like the background
    prob = masks.prompt_probability(dense, np.array([1, 0], np.float32),
                                np.array([[0, 1]], np.float32), logit_scale=20)
    assert prob.shape == (1, 2, 2)
    assert prob[0, 0].min() > 0.99 and prob[0, 1].max() < 0.01


def test_background_prompts_drop_the_prompt_itself():
    assert "water" not in masks.background_prompts("Water")


def test_smooth_attention_fills_a_hole_inside_a_uniform_region():
    features = np.zeros((2, 5, 5), np.float32)
    features[0] = 1  # every location has the same features
    values = np.ones((5, 5), np.float32)
    values[2, 2] = 0
    smoothed = masks.smooth_attention(values, features, window=3)
    assert smoothed[2, 2] == pytest.approx(8 / 9, abs=1e-5)


def test_smooth_attention_keeps_an_edge_between_different_features():
    features = np.zeros((2, 4, 4), np.float32)
    features[0, :, :2] = 1
    features[1, :, 2:] = 1
    values = np.zeros((4, 4), np.float32)
    values[:, :2] = 1
    smoothed = masks.smooth_attention(values, features, window=3, temperature=0.05)
    assert smoothed[:, :2].min() > 0.99 and smoothed[:, 2:].max() < 0.01
    with pytest.raises(ValueError):
        masks.smooth_attention(values, features, window=2)


def test_polygonize_at_threshold_zero_leaves_out_unpainted_cells():
    prob = np.full((4, 4), np.nan, np.float32)
    prob[:2, :2] = 0.1
    gt = (700000.0, 2.0, 0.0, 3700000.0, 0.0, -2.0)
    (polygon,) = masks.polygonize(prob, gt, utm_wkt(), threshold=0.0)
    assert polygon[2] == pytest.approx(16.0)  # the 2 x 2 painted cells of 4 m², not 16 cells
    assert masks.polygonize(np.full((3, 3), np.nan), gt, utm_wkt(), threshold=0.0) == []


def test_polygonize_keeps_holes_filters_area_and_measures_means():
    prob = np.zeros((20, 20), np.float32)
    prob[2:12, 2:12] = 0.9
    prob[6:8, 6:8] = 0.0  # a hole
    prob[15, 15] = 0.8  # a single cell: 4 m² at 2 m cells
    gt = (700000.0, 2.0, 0.0, 3700000.0, 0.0, -2.0)
    polygons = masks.polygonize(prob, gt, utm_wkt(), threshold=0.5, min_area=10)
    assert len(polygons) == 1
    geometry, mean, area = polygons[0]
    assert geometry.GetGeometryCount() == 2, "outer ring and one hole"
    assert area == pytest.approx((100 - 4) * 4)
    assert mean == pytest.approx(0.9, abs=1e-6)
    assert len(masks.polygonize(prob, gt, utm_wkt(), min_area=0)) == 2
    assert masks.polygonize(np.full((3, 3), np.nan), gt, utm_wkt()) == []


def test_polygonize_sieves_specks_and_small_holes_but_not_nodata():
    prob = np.zeros((20, 20), np.float32)
    prob[2:12, 2:12] = 0.9
    prob[6:8, 6:8] = 0.0  # a hole of 4 pixels
    prob[15, 15] = prob[17, 3] = 0.8  # specks of one pixel
    prob[0:2, 14:20] = 0.9  # a region of 12 pixels...
    prob[0, 17] = np.nan  # ... beside a pixel without data, which no sieve fills
    gt = (700000.0, 2.0, 0.0, 3700000.0, 0.0, -2.0)
    assert len(masks.polygonize(prob, gt, utm_wkt(), threshold=0.5)) == 4
    polygons = masks.polygonize(prob, gt, utm_wkt(), threshold=0.5, min_pixels=5)
    assert sorted(area for _, _, area in polygons) == [11 * 4, 100 * 4], "hole filled"
    assert all(geometry.GetGeometryCount() == 1 for geometry, _, _ in polygons)
    assert masks.polygonize(prob, gt, utm_wkt(), threshold=0.5, min_pixels=200) == []


def test_polygon_area_in_a_geographic_crs_is_in_square_metres():
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    prob = np.ones((2, 2), np.float32)
    gt = (10.0, 0.001, 0.0, 0.001, 0.0, -0.001)  # 2 x 2 cells of ~111 m at the equator
    [(_, _, area)] = masks.polygonize(prob, gt, srs.ExportToWkt())
    assert area == pytest.approx(222.6 ** 2, rel=0.02)
