"""The scale rule: the finest scale a model knows that does not blow raster pixels up into blur."""

import pytest

from terralens.plugin.core.bundle import ScaleSpec
from terralens.plugin.core.scale import (
    AUTOMATIC,
    GIVEN,
    MODEL_DEFAULT,
    NATIVE,
    automatic_gsd,
    choose_scale,
    scale_warnings,
    tile_pixels,
)

SPEC = ScaleSpec(gsd_range_m=[0.6, 37.5], max_upsampling=1.5)


@pytest.mark.parametrize("raster_m, expected", [
    (0.02, 0.6), (0.3, 0.6), (0.9, 0.6),  # finer than the model: shrunk to its finest scale
    (1.5, 1.0), (10.0, 10 / 1.5), (30.0, 20.0),  # enlarged 1.5 times, no more
    (100.0, 37.5),  # coarser than the model knows: its coarsest scale (and a warning)
])
def test_automatic_gsd_is_the_finest_known_scale_without_blur(raster_m, expected):
    assert automatic_gsd(raster_m, 0.6, SPEC) == pytest.approx(expected)


def test_an_encoder_preference_is_a_floor_and_zero_means_none():
    assert automatic_gsd(10.0, 10.0, SPEC) == 10.0  # a Sentinel-2 encoder made for 10 m
    assert automatic_gsd(0.3, 0.0, SPEC) == 0.6  # "native pixels" preference: the range's finest


def test_choose_scale_says_how_and_keeps_given_values():
    auto = choose_scale(10.0, 128, None, 0.6, SPEC)
    assert auto.how == AUTOMATIC and auto.tile_px == 85 and auto.upsampling <= 1.51
    assert auto.tile_ground_m == 850.0 and auto.automatic_gsd_m == pytest.approx(10 / 1.5)
    given = choose_scale(10.0, 128, 5.0, 0.6, SPEC)
    assert given.how == GIVEN and given.tile_px == 64 and given.gsd_m == 5.0
    native = choose_scale(10.0, 128, 0, 0.6, SPEC)
    assert native.how == NATIVE and native.tile_px == 128 and native.gsd_m == 0.0
    old = choose_scale(10.0, 128, None, 0.6, None)  # a bundle without a range: as before
    assert old.how == MODEL_DEFAULT and old.tile_px == 8 and old.automatic_gsd_m is None


def test_tile_pixels_rounds_and_keeps_native_pixels():
    assert tile_pixels(128, 0.6, 0.5) == 154
    assert tile_pixels(128, 0, 0.5) == 128 and tile_pixels(128, None, 3.0) == 128
    assert tile_pixels(128, 0.6, 1000.0) == 1


def test_warnings_name_the_parameter_and_the_way_out():
    assert scale_warnings(choose_scale(10.0, 128, None, 0.6, SPEC)) == []
    blown = scale_warnings(choose_scale(10.0, 128, 0.6, 0.6, SPEC))
    assert len(blown) == 1 and "enlarged 16.0 times" in blown[0]
    assert "Ground sample distance to -1 (automatic: 6.67 m here)" in blown[0]
    coarse = scale_warnings(choose_scale(250.0, 128, None, 0.6, SPEC))
    assert "coarser than this model knows" in coarse[0] and "Ground sample distance" in coarse[0]
    tiny_tiles = scale_warnings(choose_scale(0.02, 128, 0, 0.6, SPEC))
    assert "far smaller than what this model knows" in tiny_tiles[0]
    assert "Ground sample distance to -1 (automatic: 0.6 m here)" in tiny_tiles[0]
    huge = scale_warnings(choose_scale(10.0, 128, 200.0, 0.6, SPEC))
    assert "far larger" in huge[0]
    assert scale_warnings(choose_scale(0.5, 128, 0, 0.6, SPEC)) == []  # near the range: quiet
    old = scale_warnings(choose_scale(10.0, 128, None, 0.6, None))
    assert "at least 5 m, or 0 for the raster's own pixels" in old[0]  # no automatic to offer


def test_describe_and_record_say_what_was_used():
    scale = choose_scale(10.0, 128, None, 0.6, SPEC)
    text = scale.describe()
    assert text.startswith("6.64 m a model pixel, tiles of 850 m, raster pixels of 10 m "
                           "enlarged 1.5x; automatic")
    shrunk = choose_scale(0.3, 128, None, 0.6, SPEC).describe()
    assert shrunk.startswith("0.6 m a model pixel, tiles of 76.8 m, raster pixels of 0.3 m "
                             "shrunk 2.0x; automatic")
    record = scale.record()
    assert record["how"] == "automatic" and record["tile_px"] == 85
    assert record["tile_ground_m"] == 850.0 and record["model_range_m"] == [0.6, 37.5]
