"""Tile index: save/load round trip, exact and clustered search, negatives, cache keys."""

import numpy as np
import pytest

from terralens.plugin.core import index as tile_index
from terralens.plugin.core.tiling import Window

GT = (500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0)


def unit_rows(count, dim=16, seed=0):
    rows = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def small_index(count=50):
    windows = [Window(i * 8, 0, 8, 8) for i in range(count)]
    return tile_index.build_index(unit_rows(count), windows, GT, "", {"model": "m"})


def test_round_trip_keeps_everything(tmp_path):
    index = small_index()
    path = index.save(tmp_path / "a" / "x.tlindex.npz")
    loaded = tile_index.TileIndex.load(path)
    assert loaded.embeddings.dtype == np.float16
    np.testing.assert_array_equal(loaded.windows, index.windows)
    assert loaded.geotransform == GT and loaded.provenance == {"model": "m"}
    assert loaded.footprint(1)[0] == (500080.0, 4000000.0)
    assert not list(tmp_path.glob("a/.*")), "no temporary file left behind"


def test_search_finds_the_query_tile_first():
    index = small_index()
    query = index.embeddings[17].astype(np.float32)
    tiles, scores = index.search(query / np.linalg.norm(query), k=5)
    assert tiles[0] == 17 and scores[0] == pytest.approx(1.0, abs=2e-3)
    assert np.all(np.diff(scores) <= 0)


def test_negative_query_pushes_tiles_down():
    index = small_index()
    query = index.embeddings[3].astype(np.float32)
    tiles, _ = index.search(query, k=1, negatives=[query], negative_weight=2.0)
    assert tiles[0] != 3


def test_clustered_search_agrees_with_exact(monkeypatch):
    monkeypatch.setattr(tile_index, "EXACT_SEARCH_LIMIT", 500)
    centres = unit_rows(40, seed=1)
    rng = np.random.default_rng(2)
    points = centres[rng.integers(0, 40, 4000)] + 0.05 * rng.standard_normal((4000, 16))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    index = tile_index.build_index(points, [Window(i, 0, 1, 1) for i in range(4000)], GT, "", {})
    assert index.clusters is not None
    hits = 0
    for query in centres[:10]:
        approx, _ = index.search(query, k=10)
        exact, _ = index.search(query, k=10, exact=True)
        hits += len(set(approx) & set(exact))
    assert hits / 100 >= 0.9
    assert len(index.clusters.candidates(centres[0])) < 4000


def test_corrupt_index_gives_clear_error(tmp_path):
    bad = tmp_path / "bad.tlindex.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(tile_index.TileIndexError, match="delete it to rebuild"):
        tile_index.TileIndex.load(bad)


def test_cache_key_changes_with_any_input():
    base = tile_index.cache_key({"path": "a", "mtime": 1}, {"id": "m"}, {"tile": 64})
    assert base == tile_index.cache_key({"path": "a", "mtime": 1}, {"id": "m"}, {"tile": 64})
    assert base != tile_index.cache_key({"path": "a", "mtime": 2}, {"id": "m"}, {"tile": 64})
    assert base != tile_index.cache_key({"path": "a", "mtime": 1}, {"id": "n"}, {"tile": 64})
    assert base != tile_index.cache_key({"path": "a", "mtime": 1}, {"id": "m"}, {"tile": 32})


def test_search_many_merges_by_score():
    a, b = small_index(), small_index()
    query = a.embeddings[5].astype(np.float32)
    hits = tile_index.search_indexes([a, b], query, k=4)
    assert {h[0] for h in hits[:2]} == {0, 1} and hits[0][1] == 5


def test_index_cut_short_gives_clear_error(tmp_path):
    """A cached index truncated by a full disk or a killed copy is not a zip any more."""
    path = small_index().save(tmp_path / "cut.tlindex.npz")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(tile_index.TileIndexError, match="unreadable"):
        tile_index.TileIndex.load(path)


def test_index_of_no_tile_round_trips(tmp_path):
    """An all-nodata raster makes an empty index, which saves, loads and searches to nothing."""
    index = tile_index.build_index(np.zeros((0, 16)), [], GT, "", {"model": "m"})
    loaded = tile_index.TileIndex.load(index.save(tmp_path / "empty.tlindex.npz"))
    assert len(loaded) == 0 and loaded.embeddings.shape == (0, 16)
    assert tile_index.search_indexes([loaded], unit_rows(1)[0], k=5) == []


def test_footprint_keeps_to_the_raster():
    """A tile larger than its raster has the raster's footprint, not the padded window's."""
    windows = [Window(0, 0, 64, 64)]
    index = tile_index.build_index(unit_rows(1), windows, GT, "",
                                   {"raster": {"width": 20, "height": 10}})
    assert index.footprint(0) == [(500000.0, 4000000.0), (500200.0, 4000000.0),
                                  (500200.0, 3999900.0), (500000.0, 3999900.0)]
