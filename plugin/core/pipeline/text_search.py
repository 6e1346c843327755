"""Free-text search over tile indexes: ranked hits, a result layer, a similarity heat-map."""

from pathlib import Path

import numpy as np

from .. import location
from ..geometry import polygon_from_ring, transform_points
from ..index import EXACT_SEARCH_LIMIT, search_indexes
from ..mosaic import Mosaic
from ..outputs import PolygonWriter, write_geotiff

# Tiles of a large index re-ranked with the location prior (see `_search_with_prior`): at least
# this many, and this many a result asked for.
PRIOR_CANDIDATES, PRIOR_CANDIDATES_PER_HIT = 5000, 50


def search(indexes, model, query, negatives=(), k=20, out_path=None, heatmap_path=None,
           negative_weight=0.5, location_weight=0.0, crs_wkt=None):
    """Rank the tiles of one or more indexes against a free-text query.

    With `location_weight` > 0 each tile's score gains that weight times the similarity of the
    query to the tile's place (the bundle's location encoder; every tile is scored exactly).
    Footprints are given, and written, in `crs_wkt` (None: the first index's CRS): tiles of
    rasters in other CRSs are reprojected. The heat-map covers the first index only.

    Returns:
        list of dicts (rank, score, index number, tile number, footprint corners in the output
        CRS), best first.
    """
    if not query or not query.strip():
        raise ValueError("the query is empty: type what you are looking for, for example "
                         "'airplanes parked beside a terminal'")
    query_vector = model.text.encode([query])[0]
    negative_vectors = model.text.encode(list(negatives)) if negatives else None
    if location_weight:
        hits = _search_with_prior(indexes, model, query_vector, k, negative_vectors,
                                  negative_weight, location_weight)
    else:
        hits = search_indexes(indexes, query_vector, k, negative_vectors, negative_weight)
    crs_wkt = indexes[0].crs_wkt if crs_wkt is None else crs_wkt
    results = ranked_results(indexes, hits, crs_wkt)
    if heatmap_path:
        scores = indexes[0].scores(query_vector, negative_vectors, negative_weight)
        if location_weight:
            scores = scores + _index_prior(indexes[0], model, query_vector, location_weight)
        write_heatmap(heatmap_path, indexes[0], scores, query)
    try:
        if out_path:
            write_search_results(out_path, indexes, results, query, negatives, crs_wkt)
    except BaseException:  # all or nothing: no heat-map without its results layer
        if heatmap_path:
            Path(heatmap_path).unlink(missing_ok=True)
        raise
    return results


def _index_prior(index, model, query_vector, weight, tiles=None):
    """`weight` times the query's similarity to the place of every tile (or of `tiles`)."""
    windows = index.windows if tiles is None else index.windows[tiles]
    centres = location.window_centres(windows, index.geotransform)
    return weight * location.prior_scores(model, centres, index.crs_wkt, query_vector[None])[:, 0]


def _search_with_prior(indexes, model, query_vector, k, negatives, negative_weight, weight):
    """Like `index.search_indexes`, with the location prior added to the tiles' scores.

    Up to `EXACT_SEARCH_LIMIT` tiles every tile is re-scored; above it the best
    max(`PRIOR_CANDIDATES`, `PRIOR_CANDIDATES_PER_HIT` x k) tiles by image score are: the prior
    changes little within one raster (its finest scale is tens of kilometres), so it re-orders
    good candidates rather than lifting poor ones, and a query on a million tiles stays fast.
    """
    location.require_location(model)
    hits = []
    for number, index in enumerate(indexes):
        if len(index) <= EXACT_SEARCH_LIMIT:
            tiles = np.arange(len(index))
            scores = index.scores(query_vector, negatives, negative_weight)
        else:
            count = max(PRIOR_CANDIDATES, PRIOR_CANDIDATES_PER_HIT * k)
            tiles, scores = index.search(query_vector, count, negatives, negative_weight)
            tiles = np.asarray(tiles)
        scores = np.asarray(scores) + _index_prior(index, model, query_vector, weight, tiles)
        best = np.argsort(-scores)[:k]
        hits += [(number, int(tiles[i]), float(scores[i])) for i in best]
    hits.sort(key=lambda hit: -hit[2])
    return hits[:k]


def ranked_results(indexes, hits, crs_wkt):
    """(index number, tile, score) hits, best first, as result dicts with 1-based ranks and
    footprints in `crs_wkt`."""
    return [{"rank": rank, "score": score, "index": number, "tile": tile,
             "footprint": transform_points(indexes[number].footprint(tile),
                                           indexes[number].crs_wkt, crs_wkt)}
            for rank, (number, tile, score) in enumerate(hits, start=1)]


def square_pixel_records(indexes):
    """Per raster, how it was read as square ground pixels (None: as it is)."""
    return [i.provenance.get("raster", {}).get("square_pixels") for i in indexes]


def write_search_results(out_path, indexes, results, query, negatives, crs_wkt, extra=None):
    """The ranked tiles as a polygon layer (rank, score, query, raster); `extra` joins the
    provenance record."""
    record = {"model_id": indexes[0].provenance.get("model_id"), "query": query,
              "negatives": list(negatives),
              "rasters": [i.provenance.get("raster", {}).get("path") for i in indexes],
              "results": len(results),
              "tiling": [{key: i.provenance.get(key) for key in ("image_encoder", "tiling",
                                                                 "scale", "scaling")}
                         for i in indexes],
              "square_pixels": square_pixel_records(indexes),
              **(extra or {})}
    fields = [("rank", "int"), ("score", "float"), ("query", "str"), ("raster", "str")]
    with PolygonWriter(out_path, crs_wkt, fields, "search", record) as writer:
        for hit in results:
            raster = indexes[hit["index"]].provenance.get("raster", {}).get("path", "")
            writer.add(polygon_from_ring(hit["footprint"]),
                       {"rank": hit["rank"], "score": hit["score"], "query": query,
                        "raster": raster})


def write_heatmap(path, index, scores, query, band_description=None):
    """A float32 GeoTIFF of tile scores averaged over overlaps (NaN where no tile); its band
    is described as `band_description` (default: "score of '<query>'")."""
    raster = index.provenance.get("raster", {})
    tiling = index.provenance.get("tiling", {})
    mosaic = Mosaic(raster["width"], raster["height"], index.geotransform, max_side=2048,
                    min_cell=max(1, int(tiling.get("tile_px", 8)) // 8))
    for tile, score in enumerate(scores):
        mosaic.add(index.window(tile), score)
    write_geotiff(path, mosaic.result(), mosaic.geotransform, index.crs_wkt,
                  nodata=float("nan"), metadata={**index.provenance, "query": query},
                  band_description=band_description or f"score of {query!r}")
    return path
