"""Tests of the tile grid and footprint arithmetic."""

import math

import numpy as np
import pytest
from osgeo import ogr

from terralens.plugin.core.tiling import (
    Window,
    extent_pixel_box,
    pixel_size_xy_m,
    place_window,
    tile_starts,
    tile_windows,
    window_bounds,
    window_footprint,
    windows_in_extent,
)

NORTH_UP = (500000.0, 0.5, 0.0, 3700000.0, 0.0, -0.5)


def coverage(windows, width, height):
    """How many windows cover each pixel of a width x height raster."""
    counts = np.zeros((height, width), int)
    for w in windows:
        counts[max(w.row, 0):w.row + w.height, max(w.col, 0):w.col + w.width] += 1
    return counts


@pytest.mark.parametrize("length,size,stride", [
    (900, 224, 192), (900, 224, 224), (224, 224, 100), (225, 224, 200), (1000, 7, 3),
    (10, 4, 1), (97, 32, 31)])
def test_starts_follow_torchgeo_rule_and_end_at_edge(length, size, stride):
    starts = tile_starts(length, size, stride)
    assert len(starts) == math.ceil((length - size) / stride) + 1
    assert starts[0] == 0 and starts[-1] == length - size
    assert all(0 < b - a <= stride for a, b in zip(starts, starts[1:]))


def test_every_pixel_covered_and_overlap_honoured():
    for width, height, tile, overlap in [(900, 900, 224, 32), (1243, 841, 256, 64),
                                         (300, 17, 16, 0), (65, 64, 64, 10)]:
        windows = tile_windows(width, height, tile, overlap)
        assert coverage(windows, width, height).min() >= 1
        assert all(w.width == tile and w.height == tile for w in windows)
        assert all(w.col + w.width <= width and w.row + w.height <= height for w in windows)
        cols = sorted({w.col for w in windows})
        # Neighbours share at least the asked overlap; only the last step may share more.
        assert all(tile - (b - a) >= overlap for a, b in zip(cols, cols[1:]))
        assert len(windows) == len(cols) * len({w.row for w in windows})


def test_last_partial_row_and_column_are_covered():
    windows = tile_windows(900, 500, 224, 0)
    assert max(w.col + w.width for w in windows) == 900
    assert max(w.row + w.height for w in windows) == 500
    assert Window(676, 276, 224, 224) in windows


def test_raster_smaller_than_tile_gives_one_padded_window():
    assert tile_windows(100, 80, 224, 32) == [Window(0, 0, 224, 224)]
    assert tile_windows(1, 1, 224, 0) == [Window(0, 0, 224, 224)]
    # Larger along one axis only: columns tile, the single row is padded.
    windows = tile_windows(500, 50, 224, 0)
    assert {w.row for w in windows} == {0} and coverage(windows, 500, 50).min() == 1


@pytest.mark.parametrize("args,message", [
    ((0, 10, 4, 0), "raster size"), ((10, 10, 0, 0), "tile size"),
    ((10, 10, 4, 4), "overlap"), ((10, 10, 4, -1), "overlap")])
def test_bad_grids_are_refused_clearly(args, message):
    with pytest.raises(ValueError, match=message):
        tile_windows(*args)


def test_footprint_north_up():
    corners = window_footprint(Window(10, 20, 4, 2), NORTH_UP)
    assert corners == [(500005.0, 3699990.0), (500007.0, 3699990.0),
                       (500007.0, 3699989.0), (500005.0, 3699989.0)]
    assert window_bounds(Window(10, 20, 4, 2), NORTH_UP) == (500005.0, 3699989.0,
                                                             500007.0, 3699990.0)


def test_footprint_rotated_geotransform():
    angle = math.radians(30)
    gt = (100.0, math.cos(angle), -math.sin(angle), 200.0, math.sin(angle), math.cos(angle))
    corners = window_footprint(Window(0, 0, 10, 10), gt)
    assert corners[0] == (100.0, 200.0)
    assert corners[1] == pytest.approx((100 + 10 * math.cos(angle), 200 + 10 * math.sin(angle)))
    sides = [math.dist(a, b) for a, b in zip(corners, corners[1:] + corners[:1])]
    assert sides == pytest.approx([10.0] * 4)  # rotation keeps a square a square
    minx, miny, maxx, maxy = window_bounds(Window(0, 0, 10, 10), gt)
    assert minx == pytest.approx(100 - 10 * math.sin(angle)) and miny == 200.0
    assert maxx == pytest.approx(100 + 10 * math.cos(angle))


def test_windows_in_extent_keeps_only_overlapping_tiles():
    windows = tile_windows(40, 40, 10, 0)  # 4 x 4 tiles of 5 m
    minx, maxy = NORTH_UP[0], NORTH_UP[3]
    # Covers the top-left 2 x 2 tiles; touching the third column's edge does not count.
    extent = (minx + 1, maxy - 10, minx + 10, maxy)
    kept = windows_in_extent(windows, NORTH_UP, extent)
    assert sorted((w.col, w.row) for w in kept) == [(0, 0), (0, 10), (10, 0), (10, 10)]
    assert windows_in_extent(windows, NORTH_UP, (0, 0, 1, 1)) == []
    with pytest.raises(ValueError, match="min <= max"):
        windows_in_extent(windows, NORTH_UP, (10, 0, 0, 1))


@pytest.mark.parametrize("angle", [0, 20, 45, 90])
def test_extent_pixel_box_holds_the_extent(angle):
    """The raster pixels under a map extent, for north-up and rotated rasters."""
    rad = math.radians(angle)
    gt = (100.0, 2 * math.cos(rad), 2 * math.sin(rad), 900.0, 2 * math.sin(rad),
          -2 * math.cos(rad))
    extent = (300.0, 500.0, 420.0, 560.0)
    col0, row0, col1, row1 = extent_pixel_box(gt, extent)
    box = window_footprint(Window(col0, row0, col1 - col0, row1 - row0), gt)
    ring = ogr.CreateGeometryFromWkt(
        "POLYGON((" + ", ".join(f"{x} {y}" for x, y in box + box[:1]) + "))")
    minx, miny, maxx, maxy = extent
    corners = [(minx, miny), (minx, maxy), (maxx, miny), (maxx, maxy)]
    assert all(ring.Buffer(1e-6).Contains(ogr.CreateGeometryFromWkt(f"POINT({x} {y})"))
               for x, y in corners)
    if angle == 0:
        assert (col0, row0, col1, row1) == (100, 170, 160, 200)


def test_footprint_clipped_to_the_raster():
    # a 64-pixel tile over a 20 x 10 pixel raster shows where the raster is
    corners = window_footprint(Window(0, 0, 64, 64), NORTH_UP, 20, 10)
    assert corners == [(500000.0, 3700000.0), (500010.0, 3700000.0),
                       (500010.0, 3699995.0), (500000.0, 3699995.0)]
    assert window_footprint(Window(4, 2, 8, 8), NORTH_UP, 20, 10) == window_footprint(
        Window(4, 2, 8, 8), NORTH_UP)


def test_place_window_maps_raster_part_into_the_tile():
    # Inside the raster: all of it, onto the whole tile.
    assert place_window(Window(10, 20, 64, 64), 32, 100, 100) == ((10, 20, 74, 84),
                                                                   (0, 0, 32, 32))
    # A raster smaller than the window: its 50 x 30 pixels fill the top-left of the tile.
    assert place_window(Window(0, 0, 100, 100), 200, 50, 30) == ((0, 0, 50, 30),
                                                                  (0, 0, 100, 60))
    # A 1 x 1 raster still fills at least one tile pixel.
    assert place_window(Window(0, 0, 224, 224), 32, 1, 1) == ((0, 0, 1, 1), (0, 0, 1, 1))
    assert place_window(Window(200, 0, 10, 10), 32, 100, 100) is None


def test_pixel_size_projected_and_geographic():
    assert pixel_size_xy_m(NORTH_UP, 10, 10) == (0.5, 0.5)
    feet = (0, 2.0, 0, 0, 0, -2.0)
    assert pixel_size_xy_m(feet, 10, 10, metres_per_unit=0.3048) == pytest.approx((0.6096,) * 2)
    equator = (0.0, 0.001, 0.0, 0.05, 0.0, -0.001)  # centre latitude 0
    width_m, height_m = pixel_size_xy_m(equator, 100, 100, degrees_per_unit=1.0)
    assert width_m == pytest.approx(111.32, abs=0.01)
    assert height_m == pytest.approx(110.57, abs=0.01)
    polar = (0.0, 0.001, 0.0, 80.05, 0.0, -0.001)
    assert pixel_size_xy_m(polar, 100, 100, degrees_per_unit=1.0)[0] == pytest.approx(19.39,
                                                                                       abs=0.02)
