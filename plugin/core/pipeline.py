"""The three jobs as one API: zero-shot labels, a cached search index with queries, prompt masks.

Every job takes a loaded model (`encoders.load_model`), a raster path, `TileSettings` and a
`RunControl` (progress and cancel callbacks), writes its outputs atomically and returns a
summary dict. Processing algorithms and GUI tasks only translate their inputs into these calls.
"""

import numpy as np

from . import labels as label_maths
from . import location, masks
from .batches import encoded_batches
from .geometry import polygon_from_ring
from .index import (
    EXACT_SEARCH_LIMIT,
    TileIndex,
    build_index,
    cache_key,
    default_cache_dir,
    index_path,
    search_indexes,
)
from .mosaic import Mosaic
from .outputs import PolygonWriter, write_geotiff
from .run_control import RunControl
from .tiled_raster import TileSettings, open_tiled
from .tiling import window_footprint

# Tiles of a large index re-ranked with the location prior (see `_search_with_prior`): at least
# this many, and this many a result asked for.
PRIOR_CANDIDATES, PRIOR_CANDIDATES_PER_HIT = 5000, 50


def model_fingerprint(model, encoder=None):
    """What identifies a model's image embeddings: its id, the image encoder's name and the
    size and time of its files (encoder network and band adapter)."""
    spec = (encoder or model.image).spec
    record = {"id": model.bundle.id, "encoder": spec.name}
    for key, name in (("image", spec.file), ("adapter", spec.adapter)):
        if name:
            stat = model.bundle.path(name).stat()
            record[f"{key}_size"], record[f"{key}_mtime"] = stat.st_size, stat.st_mtime
    return record


def provenance(model, tiled, **parameters):
    """The record every output carries: model, raster, tiling, scaling and job parameters."""
    return {"model_id": model.bundle.id, "image_encoder": tiled.encoder.spec.name,
            "raster": tiled.source.fingerprint(),
            "tiling": {**tiled.settings.describe(), "tile_px": tiled.tile_px,
                       "overlap_px": tiled.overlap_px},
            "scaling": tiled.source.scaling, "parameters": parameters}


def label_raster(raster_path, model, labels, out_path, settings=None, templates=None, top_k=3,
                 min_score=0.0, class_raster_path=None, control=None, location_weight=0.0):
    """Label every tile of a raster with its best `top_k` labels; write a polygon layer.

    With `location_weight` > 0 (and a bundle with a location encoder) each label's logit gains
    that weight times the similarity of the label to the tile's place (a location prior).

    Returns:
        dict with the output paths, tile counts and the number of tiles per best label.
    """
    control = control or RunControl()
    labels = label_maths.parse_labels(labels) if isinstance(labels, str) else list(labels)
    templates = label_maths.parse_templates(templates, model.bundle.prompt_template)
    vectors = label_maths.label_embeddings(model.text, labels, templates)
    top_k = max(1, min(int(top_k), len(labels)))
    if location_weight:
        location.require_location(model)
    tiled = open_tiled(raster_path, model, settings or TileSettings())
    record = provenance(model, tiled, labels=labels, templates=templates, top_k=top_k,
                        min_score=min_score, location_weight=location_weight)
    fields = [("label", "str"), ("score", "float")]
    for rank in range(2, top_k + 1):
        fields += [(f"label_{rank}", "str"), (f"score_{rank}", "float")]
    class_mosaics = _class_mosaics(tiled, len(labels)) if class_raster_path else None
    counts = {}
    with PolygonWriter(out_path, tiled.source.crs_wkt, fields, "labels", record) as writer:
        for windows, embeddings, _ in encoded_batches(tiled, model, control):
            prior = _location_prior(model, tiled, windows, vectors, location_weight)
            probabilities = label_maths.label_probabilities(embeddings, vectors,
                                                            model.bundle.logit_scale, prior)
            best = label_maths.top_labels(probabilities, labels, top_k, min_score)
            for window, pairs, row in zip(windows, best, probabilities):
                writer.add(window_footprint(window, tiled.source.geotransform),
                           _label_fields(pairs))
                counts[pairs[0][0]] = counts.get(pairs[0][0], 0) + 1
                if class_mosaics is not None:
                    for mosaic, value in zip(class_mosaics, row):
                        mosaic.add(window, value)
        if class_mosaics is not None:
            _write_class_raster(class_raster_path, class_mosaics, labels, tiled, record)
    return {"output": str(out_path), "class_raster": class_raster_path, "label_counts": counts,
            **tiled.stats}


def _location_prior(model, tiled, windows, vectors, weight):
    """`weight` times each label's similarity to each tile's place, or None without a prior."""
    if not weight:
        return None
    centres = location.window_centres(windows, tiled.source.geotransform)
    return weight * location.prior_scores(model, centres, tiled.source.crs_wkt, vectors)


def _label_fields(pairs):
    values = {"label": pairs[0][0], "score": pairs[0][1]}
    for rank, (label, score) in enumerate(pairs[1:], start=2):
        values[f"label_{rank}"], values[f"score_{rank}"] = label, score
    return values


def _class_mosaics(tiled, label_count):
    """One coarse probability grid a label (at most 1024 cells a side, so memory stays small)."""
    source = tiled.source
    return [Mosaic(source.width, source.height, source.geotransform, max_side=1024,
                   min_cell=max(1, tiled.tile_px // 8)) for _ in range(label_count)]


def _write_class_raster(path, mosaics, labels, tiled, record):
    """Byte raster: 1 + index of the most probable label, 0 where no tile was scored."""
    stack = np.stack([m.result() for m in mosaics])
    scored = ~np.isnan(stack[0])
    classes = np.where(scored, np.nanargmax(np.nan_to_num(stack, nan=-1.0), axis=0) + 1, 0)
    write_geotiff(path, classes.astype(np.uint8), mosaics[0].geotransform,
                  tiled.source.crs_wkt, nodata=0,
                  metadata={**record, "classes": {str(i + 1): n for i, n in enumerate(labels)}},
                  category_names=["no data"] + list(labels))


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
    for batch_windows, batch_embeddings, _ in encoded_batches(tiled, model, control):
        embeddings.append(batch_embeddings.astype(np.float16))
        windows += batch_windows
    dim = model.bundle.embedding_dim
    record = provenance(model, tiled)
    index = build_index(np.concatenate(embeddings) if embeddings else np.zeros((0, dim)),
                        windows, tiled.source.geotransform, tiled.source.crs_wkt, record)
    index.save(path)
    return index, path, False


def search(indexes, model, query, negatives=(), k=20, out_path=None, heatmap_path=None,
           negative_weight=0.5, location_weight=0.0):
    """Rank the tiles of one or more indexes against a free-text query.

    With `location_weight` > 0 each tile's score gains that weight times the similarity of the
    query to the tile's place (the bundle's location encoder; every tile is scored exactly).

    Returns:
        list of dicts (rank, score, index number, tile number, footprint corners), best first.
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
    results = [{"rank": rank, "score": score, "index": number, "tile": tile,
                "footprint": indexes[number].footprint(tile)}
               for rank, (number, tile, score) in enumerate(hits, start=1)]
    if out_path:
        _write_search_results(out_path, indexes, results, query, negatives)
    if heatmap_path:
        scores = indexes[0].scores(query_vector, negative_vectors, negative_weight)
        if location_weight:
            scores = scores + _index_prior(indexes[0], model, query_vector, location_weight)
        write_heatmap(heatmap_path, indexes[0], scores, query)
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


def _write_search_results(out_path, indexes, results, query, negatives):
    record = {"model_id": indexes[0].provenance.get("model_id"), "query": query,
              "negatives": list(negatives),
              "rasters": [i.provenance.get("raster", {}).get("path") for i in indexes]}
    fields = [("rank", "int"), ("score", "float"), ("query", "str"), ("raster", "str")]
    with PolygonWriter(out_path, indexes[0].crs_wkt, fields, "search", record) as writer:
        for hit in results:
            raster = indexes[hit["index"]].provenance.get("raster", {}).get("path", "")
            writer.add(polygon_from_ring(hit["footprint"]),
                       {"rank": hit["rank"], "score": hit["score"], "query": query,
                        "raster": raster})


def write_heatmap(path, index, scores, query):
    """A float32 GeoTIFF of tile scores averaged over overlaps (NaN where no tile)."""
    raster = index.provenance.get("raster", {})
    tiling = index.provenance.get("tiling", {})
    mosaic = Mosaic(raster["width"], raster["height"], index.geotransform, max_side=2048,
                    min_cell=max(1, int(tiling.get("tile_px", 8)) // 8))
    for tile, score in enumerate(scores):
        mosaic.add(index.window(tile), score)
    write_geotiff(path, mosaic.result(), mosaic.geotransform, index.crs_wkt,
                  nodata=float("nan"), metadata={**index.provenance, "query": query})
    return path


def prompt_mask(raster_path, model, prompt, out_path, settings=None, threshold=0.5,
                min_area=0.0, simplify=0.0, background=None, smooth_window=3,
                smooth_temperature=0.1, probability_path=None, control=None):
    """Polygons where the prompt is more likely than background prompts, per dense location.

    Returns:
        dict with the output paths, the polygon count and the tile counts.
    """
    control = control or RunControl()
    if not prompt or not prompt.strip():
        raise ValueError("the prompt is empty: type what to outline, for example 'building'")
    background = masks.background_prompts(prompt, background)
    tiled = open_tiled(raster_path, model, settings or TileSettings())
    if not tiled.encoder.has_dense:
        raise ValueError(f"model {model.bundle.id!r} has no dense features: choose a bundle "
                         "whose image encoder returns them for prompt masks")
    vectors = model.text.encode([prompt] + background)
    grid = tiled.encoder.spec.dense_grid
    mosaic = Mosaic(tiled.source.width, tiled.source.height, tiled.source.geotransform,
                    max_side=4096, min_cell=max(1, tiled.tile_px // (grid * 4)))
    for windows, _, dense in encoded_batches(tiled, model, control, dense=True):
        probability = masks.prompt_probability(dense, vectors[0], vectors[1:],
                                               model.bundle.logit_scale)
        for window, tile_probability, features in zip(windows, probability, dense):
            smoothed = masks.smooth_attention(tile_probability, features, smooth_window,
                                              smooth_temperature)
            mosaic.add(window, smoothed)
    probability_map = mosaic.result()
    record = provenance(model, tiled, prompt=prompt, background=background,
                        threshold=threshold, min_area=min_area, simplify=simplify,
                        smooth_window=smooth_window, smooth_temperature=smooth_temperature)
    polygons = masks.polygonize(probability_map, mosaic.geotransform, tiled.source.crs_wkt,
                                threshold, min_area, simplify)
    fields = [("prompt", "str"), ("mean_score", "float"), ("area", "float")]
    with PolygonWriter(out_path, tiled.source.crs_wkt, fields, "mask", record) as writer:
        for geometry, mean_score, area in polygons:
            writer.add(geometry, {"prompt": prompt, "mean_score": mean_score, "area": area})
    if probability_path:
        write_geotiff(probability_path, probability_map, mosaic.geotransform,
                      tiled.source.crs_wkt, nodata=float("nan"), metadata=record)
    return {"output": str(out_path), "probability_raster": probability_path,
            "polygons": len(polygons), **tiled.stats}
