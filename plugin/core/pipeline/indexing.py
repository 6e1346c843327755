"""The tile index of a raster: reused from the cache when nothing changed, else built."""

import numpy as np

from ..batches import EncodedBatches
from ..index import TileIndex, build_index, cache_key, default_cache_dir, index_path
from ..run_control import RunControl
from ..tiled_raster import TileSettings, open_tiled
from .records import model_fingerprint, provenance


def index_raster(raster_path, model, settings=None, cache_dir=None, control=None):
    """The tile index of a raster: loaded from the cache when nothing changed, else built.

    Returns:
        (TileIndex, path of its cache file, whether it was reused).
    """
    control = control or RunControl()
    tiled = open_tiled(raster_path, model, settings or TileSettings())
    key = cache_key(tiled.source.fingerprint(), model_fingerprint(model, tiled.encoder),
                    {**tiled.settings.describe(), "scaling": tiled.source.scaling})
    path = index_path(cache_dir or default_cache_dir(), raster_path, key)
    if path.is_file():
        try:
            control.report(1.0, "index reused")
            return TileIndex.load(path), path, True
        except ValueError:
            pass  # unreadable: rebuild it below
    embeddings, windows = [], []
    for batch_windows, batch_embeddings, _ in EncodedBatches(tiled, model, control):
        embeddings.append(batch_embeddings.astype(np.float16))
        windows += batch_windows
    dim = model.bundle.embedding_dim
    record = provenance(model, tiled)
    index = build_index(np.concatenate(embeddings) if embeddings else np.zeros((0, dim)),
                        windows, tiled.source.geotransform, tiled.source.crs_wkt, record)
    index.save(path)
    return index, path, False
