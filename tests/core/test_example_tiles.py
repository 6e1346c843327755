"""Which tiles an example picks: points the tiles they fall in, polygons the tiles they cover."""

import numpy as np
import pytest

from terralens.plugin.core.example_tiles import tiles_for_example
from terralens.plugin.core.index import build_index
from terralens.plugin.core.tiling import Window, tile_windows

# a 100 x 60 px raster at 1 m from (1000, 2000) down: 20 px tiles, 10 px overlap
GEOTRANSFORM = (1000.0, 1.0, 0.0, 2000.0, 0.0, -1.0)


@pytest.fixture(scope="module")
def index():
    windows = tile_windows(100, 60, 20, 10)
    embeddings = np.eye(len(windows), 8, dtype=np.float32)
    return build_index(embeddings, windows, GEOTRANSFORM, "", {})


def test_a_point_picks_every_tile_it_falls_in_the_closest_first(index):
    tiles = tiles_for_example(index, "POINT (1017 1983)")  # col 17, row 17 from the corner
    assert len(tiles) == 4, "10 px overlap: four 20 px tiles hold this point"
    assert tuple(index.window(tiles[0])) == (10, 10, 20, 20)
    assert list(tiles_for_example(index, "POINT (5000 5000)")) == []


def test_a_polygon_picks_the_tiles_it_mostly_covers(index):
    square = "POLYGON ((1000 2000, 1040 2000, 1040 1960, 1000 1960, 1000 2000))"
    tiles = tiles_for_example(index, square)
    assert {tuple(index.window(t)) for t in tiles} == {
        (c, r, 20, 20) for c in (0, 10, 20) for r in (0, 10, 20)}
    small = "POLYGON ((1016 1984, 1018 1984, 1018 1982, 1016 1982, 1016 1984))"
    assert list(tiles_for_example(index, small)) == list(
        tiles_for_example(index, "POINT (1017 1983)"))


def test_rotated_rasters_use_true_footprints():
    rotated = (1000.0, 0.0, 1.0, 2000.0, 1.0, 0.0)  # columns run north, rows east
    index = build_index(np.eye(2, 8, dtype=np.float32), [Window(0, 0, 10, 10),
                                                          Window(10, 0, 10, 10)], rotated, "", {})
    assert list(tiles_for_example(index, "POINT (1005 2015)")) == [1]


def test_lines_and_empty_geometries_are_refused(index):
    with pytest.raises(ValueError, match="points or polygons"):
        tiles_for_example(index, "LINESTRING (1000 2000, 1010 1990)")
    with pytest.raises(ValueError, match="empty"):
        tiles_for_example(index, "POLYGON EMPTY")
