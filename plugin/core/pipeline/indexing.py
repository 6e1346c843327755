"""Tile indexes of rasters: reused from memory or the disk cache when nothing changed, else built.

One route for every caller: Processing's `buildindex` and `textsearch` and the Search panel call
`index_rasters`, which shares progress and cancel over the list; the panel passes the indexes it
keeps in memory, keyed by the same `index_key` that names the cache files.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..batches import EncodedBatches, announce_tiling
from ..index import TileIndex, build_index, cache_key, default_cache_dir, index_path
from ..run_control import RunControl
from ..tiled_raster import TileSettings, open_tiled
from .records import model_fingerprint, provenance

BUILT, FROM_DISK, FROM_MEMORY = "built", "disk", "memory"


@dataclass
class IndexedRaster:
    """A raster's tile index and where it came from.

    Attributes:
        name: the caller's name for the raster (a layer name).
        index: the TileIndex.
        path: its cache file.
        key: `index_key` of the raster with its model and settings (also the memory key).
        source: BUILT, FROM_DISK or FROM_MEMORY.
    """

    name: str
    index: TileIndex
    path: Path
    key: str
    source: str

    @property
    def reused(self):
        return self.source != BUILT


def index_key(tiled, model):
    """The one key of a raster's tile index: raster content, model and encoder, tiling (with
    the tile size in raster pixels, which an automatic scale decides), scaling."""
    return cache_key(tiled.source.fingerprint(), model_fingerprint(model, tiled.encoder),
                     {**tiled.settings.describe(), "tile_px": tiled.tile_px,
                      "scaling": tiled.source.scaling})


def index_rasters(rasters, model, cache_dir=None, control=None, memory=None):
    """The tile index of each raster, with one progress bar and one cancel for the whole list.

    Args:
        rasters: (name, path, TileSettings or None) triples.
        model: a loaded model.
        cache_dir: folder of the index cache (None: the user's cache folder).
        control: RunControl for the whole list.
        memory: optional mapping of `index_key` -> TileIndex already loaded (read, never
            written here: the caller adds the new ones it wants to keep).

    Returns:
        list of IndexedRaster, in the order of `rasters`.
    """
    control = control or RunControl()
    results = []
    for number, (name, path, settings) in enumerate(rasters):
        control.check()
        share = control.share(number, len(rasters), f"{name}: ")
        results.append(_index_one(name, path, model, settings, cache_dir, share, memory))
    control.report(1.0, "")
    return results


def index_raster(raster_path, model, settings=None, cache_dir=None, control=None):
    """The tile index of one raster (see `index_rasters`).

    Returns:
        (TileIndex, path of its cache file, whether it was reused).
    """
    result = _index_one(str(raster_path), raster_path, model, settings, cache_dir,
                        control or RunControl(), None)
    return result.index, result.path, result.reused


def _index_one(name, raster_path, model, settings, cache_dir, control, memory):
    tiled = open_tiled(raster_path, model, settings or TileSettings())
    key = index_key(tiled, model)
    path = index_path(cache_dir or default_cache_dir(), raster_path, key)
    if memory is not None and key in memory:
        announce_tiling(tiled, control, "Index in memory:", tiled.settings.views)
        return IndexedRaster(name, memory[key], path, key, FROM_MEMORY)
    if path.is_file():
        try:
            index = TileIndex.load(path)
            announce_tiling(tiled, control, "Index reused, nothing encoded:",
                            tiled.settings.views)
            control.report(1.0)
            return IndexedRaster(name, index, path, key, FROM_DISK)
        except ValueError:  # unreadable (cut short, another version): rebuild it
            control.warn(f"the cached index {path.name} was unreadable: it is rebuilt")
    index = _build(tiled, model, control)
    index.save(path)
    return IndexedRaster(name, index, path, key, BUILT)


def _build(tiled, model, control):
    embeddings, windows = [], []
    for batch_windows, batch_embeddings, _ in EncodedBatches(tiled, model, control):
        embeddings.append(batch_embeddings.astype(np.float16))
        windows += batch_windows
    dim = model.bundle.embedding_dim
    return build_index(np.concatenate(embeddings) if embeddings else np.zeros((0, dim)),
                       windows, tiled.source.geotransform, tiled.source.crs_wkt,
                       provenance(model, tiled))
