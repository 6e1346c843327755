"""The worker side of a panel search: load the model, index new rasters, rank the tiles."""

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..common.settings_keys import user_models_dir
from ..core import pipeline
from ..core.registry import cached_model
from ..core.run_control import RunControl
from ..core.tiled_raster import TileSettings


@dataclass
class SearchRequest:
    """One query from the panel.

    Attributes:
        rasters: (layer name, file path) pairs to search.
        query: the free text.
        k: how many tiles to return.
        bundle_dir: model bundle folder (None: the embedded default).
        providers: onnxruntime providers argument ("auto" or None for the CPU).
        batch_size: tiles encoded together while indexing.
        out_path: GeoPackage the ranked tiles are written to.
    """

    rasters: list
    query: str
    k: int = 20
    bundle_dir: str = None
    providers: str = None
    batch_size: int = 16
    out_path: str = ""


@dataclass
class SearchOutcome:
    """What a search task hands to the main thread."""

    request: SearchRequest
    hits: list
    model_id: str
    new_indexes: dict = field(default_factory=dict)  # memory key -> TileIndex built or loaded
    raster_names: list = field(default_factory=list)  # layer name of each index number


def memory_key(raster_path, model):
    """What must be unchanged for an index kept in memory to be reused: raster and model."""
    stat = Path(raster_path).stat()
    return (str(Path(raster_path).resolve()), stat.st_mtime_ns, stat.st_size,
            json.dumps(pipeline.model_fingerprint(model), sort_keys=True))


def run_search(request, memory, control=None):
    """Run `request` in a worker thread; `memory` maps memory keys to loaded TileIndex objects.

    Rasters whose index is in `memory` are not touched; the others get theirs from the core's
    disk cache or built (the slow part, with progress and cancel through `control`).

    Returns:
        SearchOutcome (the caller stores `new_indexes` in its memory on the main thread).
    """
    control = control or RunControl()
    model = cached_model(request.bundle_dir, request.providers, search_dirs=[user_models_dir()])
    indexes, fresh = [], {}
    count = len(request.rasters)
    for number, (name, path) in enumerate(request.rasters):
        key = memory_key(path, model)
        index = memory.get(key)
        if index is None:
            control.report(number / count, f"Indexing {name}")
            step = RunControl(_share(control, number, count, name), control.is_cancelled)
            index, _path, _reused = pipeline.index_raster(
                path, model, TileSettings(batch_size=request.batch_size), None, step)
            fresh[key] = index
        indexes.append(index)
    control.check()
    hits = pipeline.search(indexes, model, request.query, k=request.k,
                           out_path=request.out_path)
    return SearchOutcome(request, hits, model.bundle.id, fresh,
                         [name for name, _path in request.rasters])


def _share(control, number, count, name):
    """Progress of raster `number` of `count` as its share of the whole task."""
    def progress(fraction, message):
        control.report((number + fraction) / count, f"Indexing {name}: {message}")

    return progress
