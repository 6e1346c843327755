"""Tile indexes of rasters (pipeline.index_rasters): built once, reused from memory or disk."""

import numpy as np
import pytest
from gdal_files import ramp_bands

from terralens.plugin.core import pipeline
from terralens.plugin.core.index import TileIndex
from terralens.plugin.core.run_control import Cancelled, RunControl
from terralens.plugin.core.tiled_raster import TileSettings


def test_index_is_reused_until_something_changes(tmp_path, spacenet, clip_model):
    settings = TileSettings(tile_size=128)
    index, path, reused = pipeline.index_raster(spacenet, clip_model, settings, tmp_path)
    assert not reused and path.is_file() and len(index) > 0
    calls = clip_model.image.calls
    again, path_again, reused = pipeline.index_raster(spacenet, clip_model, settings, tmp_path)
    assert reused and path_again == path and clip_model.image.calls == calls
    np.testing.assert_array_equal(again.embeddings, index.embeddings)
    _, other_path, reused = pipeline.index_raster(spacenet, clip_model,
                                                  TileSettings(tile_size=128, overlap=0.5),
                                                  tmp_path)
    assert not reused and other_path != path
    one_view, one_view_path, reused = pipeline.index_raster(
        spacenet, clip_model, TileSettings(tile_size=128, views=1), tmp_path)
    assert not reused and one_view_path not in (path, other_path)
    assert not np.allclose(one_view.embeddings, index.embeddings, atol=1e-3)


def test_index_rasters_shares_progress_and_reuses_memory(tmp_path, spacenet, ortho, clip_model):
    rasters = [("pan", spacenet, TileSettings(tile_size=128)),
               ("ortho", ortho, TileSettings(tile_size=256))]
    progress = []
    first = pipeline.index_rasters(rasters, clip_model, tmp_path,
                                   RunControl(lambda f, m: progress.append((f, m))))
    assert [r.source for r in first] == ["built", "built"]
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    phases = [(f, m.split(" (")[0]) for f, m in progress if m]  # the scale follows in (...)
    assert (0.0, "pan: Encoding 64 tiles of 128 x 128 raster pixels") in phases
    assert (0.5, "ortho: Encoding 20 tiles of 256 x 256 raster pixels") in phases
    assert sum(1 for _, m in progress if m) == 2, "one log line a raster, not one a batch"
    calls = clip_model.image.calls
    memory = {first[0].key: first[0].index}
    progress.clear()
    again = pipeline.index_rasters(rasters, clip_model, tmp_path,
                                   RunControl(lambda f, m: progress.append((f, m))),
                                   memory=memory)
    assert [r.source for r in again] == ["memory", "disk"] and clip_model.image.calls == calls
    said = [m.split(" (")[0] for _, m in progress if m]
    assert said == ["pan: Index in memory: 64 tiles of 128 x 128 raster pixels",
                    "ortho: Index reused, nothing encoded: 20 tiles of 256 x 256 raster pixels"]
    assert again[0].index is first[0].index and again[1].key == first[1].key
    assert [r.path for r in again] == [r.path for r in first]


def test_index_rasters_stops_between_rasters_when_cancelled(tmp_path, spacenet, ortho,
                                                           clip_model):
    done = []
    control = RunControl(lambda f, m: done.append(f), lambda: bool(done) and done[-1] >= 0.5)
    with pytest.raises(Cancelled):
        pipeline.index_rasters([("pan", spacenet, TileSettings(tile_size=128)),
                                ("ortho", ortho, TileSettings(tile_size=256))],
                               clip_model, tmp_path, control)
    assert len(list(tmp_path.glob("ortho*"))) == 0


def test_index_cache_tells_encoders_apart(sensors, tmp_path):
    path = ramp_bands(tmp_path, 1, size=64)
    settings = TileSettings(tile_size=32)
    _, auto_path, _ = pipeline.index_raster(path, sensors, settings, cache_dir=tmp_path)
    rgb_settings = TileSettings(tile_size=32, encoder="rgb")
    _, rgb_path, reused = pipeline.index_raster(path, sensors, rgb_settings, cache_dir=tmp_path)
    assert rgb_path != auto_path and not reused


def test_a_truncated_cached_index_is_rebuilt(tmp_path, spacenet, wordpiece_model):
    settings = TileSettings(tile_size=128)
    index, path, _ = pipeline.index_raster(spacenet, wordpiece_model, settings, tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    control = RunControl()
    again, path_again, reused = pipeline.index_raster(spacenet, wordpiece_model, settings,
                                                      tmp_path, control)
    assert not reused and path_again == path and len(again) == len(index)
    assert control.warnings == [f"the cached index {path.name} was unreadable: it is rebuilt"]
    assert len(TileIndex.load(path)) == len(index)


def test_a_reused_index_repeats_the_scale_warnings(tmp_path, spacenet, clip_model):
    settings = TileSettings(tile_size=128, gsd_m=0.1)  # pixels of 0.5 m enlarged 5 times
    for reused in (False, True):
        warnings = []
        _, _, was_reused = pipeline.index_raster(spacenet, clip_model, settings, tmp_path,
                                                 RunControl(warning=warnings.append))
        assert was_reused is reused
        assert any("enlarged" in w and "Ground sample distance" in w for w in warnings)
