"""Encoding a tiled raster batch by batch: counts returned, not stored on the raster; read-ahead."""

import threading

import numpy as np
import pytest
from gdal_files import make_tif

from terralens.plugin.core.batches import EncodedBatches, read_ahead
from terralens.plugin.core.encoders import load_model
from terralens.plugin.core.run_control import Cancelled, RunControl
from terralens.plugin.core.tiled_raster import TileSettings, open_tiled


@pytest.fixture(scope="module")
def model(tiny):
    return load_model(tiny)


def half_nodata_raster(path):
    """64 x 32 px, 3 bands; the right half is nodata, so half of the 16 px tiles are skipped."""
    data = np.random.default_rng(1).integers(1, 255, (3, 32, 64)).astype(np.uint8)
    data[:, :, 32:] = 0
    return make_tif(path, list(data), nodata=0)


def test_counts_come_from_the_pass_and_the_raster_is_left_alone(tmp_path, model):
    tiled = open_tiled(half_nodata_raster(tmp_path / "half.tif"), model,
                       TileSettings(tile_size=16, gsd_m=0, batch_size=3))
    before = vars(tiled).copy()
    batches = EncodedBatches(tiled, model, RunControl())
    sizes = [len(windows) for windows, embeddings, dense in batches]
    assert batches.counts() == {"tiles_total": 8, "tiles_encoded": 4, "tiles_skipped": 4,
                                "tiles_flat": 0}
    assert sum(sizes) == 4 and max(sizes) <= 3
    assert vars(tiled) == before


def test_dense_maps_only_when_asked(tmp_path, model):
    tiled = open_tiled(half_nodata_raster(tmp_path / "half.tif"), model,
                       TileSettings(tile_size=16, gsd_m=0))
    _, embeddings, dense = next(iter(EncodedBatches(tiled, model, RunControl(), dense=True)))
    grid = model.image.spec.dense_grid
    assert dense.shape == (len(embeddings), embeddings.shape[1], grid, grid)
    _, _, none = next(iter(EncodedBatches(tiled, model, RunControl())))
    assert none is None


def test_cancel_stops_before_the_next_batch(tmp_path, model):
    tiled = open_tiled(half_nodata_raster(tmp_path / "half.tif"), model,
                       TileSettings(tile_size=16, gsd_m=0, batch_size=1))
    seen = []
    control = RunControl(is_cancelled=lambda: len(seen) >= 2)
    with pytest.raises(Cancelled):
        for windows, _, _ in EncodedBatches(tiled, model, control):
            seen.append(windows)
    assert len(seen) == 2


def test_read_ahead_keeps_order_and_hands_errors_over():
    assert list(read_ahead(range(10), depth=2)) == list(range(10))

    def failing():
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(read_ahead(failing()))


def test_read_ahead_stops_its_thread_when_the_consumer_stops_early():
    started = threading.active_count()
    for item in read_ahead(iter(range(1000)), depth=2):
        if item == 3:
            break
    assert threading.active_count() == started


def test_a_raster_without_a_usable_tile_is_warned_about(tmp_path, model):
    """All nodata: no tile, no error (a batch over many rasters goes on), one warning."""
    path = make_tif(tmp_path / "empty.tif", [np.zeros((32, 64), np.uint8)] * 3, nodata=0)
    control = RunControl()
    batches = EncodedBatches(open_tiled(path, model, TileSettings(tile_size=16, gsd_m=0)),
                             model, control)
    assert list(batches) == [] and batches.counts()["tiles_encoded"] == 0
    empty = [w for w in control.warnings if "no tile has enough valid pixels" in w]
    assert len(empty) == 1  # (the other: 16 px tiles enlarged to the tiny model's 64)


def collared_raster(path, value=0):
    """96 x 32 px, 3 bands, no nodata value: the right two thirds are one value (a filled
    border). The tiles at column 32 touch the image: enlarging reads a sliver of it."""
    data = np.random.default_rng(2).integers(1, 255, (3, 32, 96)).astype(np.uint8)
    data[:, :, 32:] = value
    return make_tif(path, list(data))


def test_tiles_of_one_value_are_skipped_like_nodata_and_counted(tmp_path, model):
    warnings = []
    tiled = open_tiled(collared_raster(tmp_path / "collar.tif"), model,
                       TileSettings(tile_size=16, gsd_m=0))
    batches = EncodedBatches(tiled, model, RunControl(warning=warnings.append))
    assert {w.col for windows, _, _ in batches for w in windows} == {0, 16, 32}
    assert batches.counts() == {"tiles_total": 12, "tiles_encoded": 6, "tiles_skipped": 6,
                                "tiles_flat": 6}
    assert any(w.startswith("6 tiles of 12 show one value in every band") for w in warnings)
    kept = open_tiled(collared_raster(tmp_path / "collar.tif"), model,
                      TileSettings(tile_size=16, gsd_m=0, skip_flat=False))
    assert sum(len(windows) for windows, _, _ in EncodedBatches(kept, model, RunControl())) == 12


def test_a_raster_of_one_value_says_so_once(tmp_path, model):
    warnings = []
    path = make_tif(tmp_path / "blank.tif", [np.full((32, 64), 7, np.uint8)] * 3)
    tiled = open_tiled(path, model, TileSettings(tile_size=16, gsd_m=0))
    batches = EncodedBatches(tiled, model, RunControl(warning=warnings.append))
    assert list(batches) == []
    assert batches.counts()["tiles_flat"] == 8
    about = [w for w in warnings if "one value" in w or "valid" in w]
    assert len(about) == 1 and about[0].startswith("every tile (8) shows one value")
