"""The worker side of a panel search: load the model, index new rasters, rank the tiles."""

from dataclasses import dataclass, field

from ..common.settings_keys import user_models_dir
from ..core import pipeline
from ..core.pipeline.indexing import FROM_MEMORY
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
        crs_wkt: CRS of the results (the project's); None: the first raster's.
        examples: WKT points or polygons to search by example (then `query` only names the
            search); empty for a text search.
        examples_crs_wkt: their CRS.
    """

    rasters: list
    query: str
    k: int = 20
    bundle_dir: str = None
    providers: str = None
    batch_size: int = 16
    out_path: str = ""
    crs_wkt: str = None
    examples: list = field(default_factory=list)
    examples_crs_wkt: str = None


@dataclass
class SearchOutcome:
    """What a search task hands to the main thread."""

    request: SearchRequest
    hits: list
    model_id: str
    new_indexes: dict = field(default_factory=dict)  # index key -> TileIndex built or loaded
    raster_names: list = field(default_factory=list)  # layer name of each index number


def run_search(request, memory, control=None):
    """Run `request` in a worker thread; `memory` maps index keys to loaded TileIndex objects.

    Rasters whose index is in `memory` are not read; the others get theirs from the core's
    disk cache or built (the slow part, with progress and cancel through `control`).

    Returns:
        SearchOutcome (the caller stores `new_indexes` in its memory on the main thread).
    """
    control = control or RunControl()
    model = cached_model(request.bundle_dir, request.providers, search_dirs=[user_models_dir()])
    settings = TileSettings(batch_size=request.batch_size)
    results = pipeline.index_rasters([(name, path, settings) for name, path in request.rasters],
                                     model, control=control, memory=memory)
    control.check()
    indexes = [result.index for result in results]
    if request.examples:
        hits = pipeline.search_by_example(
            indexes, model, request.examples, request.examples_crs_wkt, k=request.k,
            out_path=request.out_path, crs_wkt=request.crs_wkt)["hits"]
    else:
        hits = pipeline.search(indexes, model, request.query, k=request.k,
                               out_path=request.out_path, crs_wkt=request.crs_wkt)
    fresh = {result.key: result.index for result in results
             if result.source != FROM_MEMORY}
    return SearchOutcome(request, hits, model.bundle.id, fresh,
                         [name for name, _path in request.rasters])
