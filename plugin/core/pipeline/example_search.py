"""Search by example: rank tiles by likeness to example tiles, with words to add or exclude."""

import numpy as np

from ..example_tiles import locate_examples
from ..index import search_indexes
from .text_search import ranked_results, write_heatmap, write_search_results

# Tiles sampled to measure how widely image and text similarities spread over the rasters
# (a standard deviation from 4,096 values is within about 1 % of the whole index's; numpy's
# float16 to float32 conversion makes a larger sample cost more than the search itself).
SPREAD_SAMPLE = 4096
# Words count as much as the examples by default: a design choice, checked on the validation
# images (AID, RSICD test split; tools/eval_example_search.py --split val): there, words at
# weight 1 raised the mean average precision of one example from 0.82 to 0.91 and of five from
# 0.92 to 0.94. Weight 2 did 0.006 better on average; it was not taken because AID's class
# names were among the training captions, so AID rewards words more than unseen classes would.
DEFAULT_WORD_WEIGHT = 1.0


def search_by_example(indexes, model, examples, examples_crs_wkt=None, words=(), exclude=(),
                      k=20, out_path=None, heatmap_path=None, word_weight=DEFAULT_WORD_WEIGHT,
                      negative_weight=0.5, crs_wkt=None, example_indexes=None,
                      keep_examples=False):
    """Rank the tiles of `indexes` by their similarity to example geometries (and words).

    The query is the normalised mean of the examples' embeddings (each example the mean of the
    tiles it picks, `example_tiles.tiles_for_example`, so a large polygon counts as much as a
    point). Words to add move it towards their text embedding and words to exclude lower the
    tiles that look like them; both are scaled by how widely image and text similarities spread
    over these tiles, so `word_weight` 1 gives the words as much say as the examples. The example
    tiles themselves are left out of the ranking (they would take its first places) unless
    `keep_examples`; the heat-map keeps them.

    Args:
        indexes: TileIndex objects to search.
        model: loaded model (its text encoder serves the words).
        examples: points or polygons (WKT or ogr geometries) in `examples_crs_wkt`.
        examples_crs_wkt: their CRS (None: each raster's own CRS, for rasters without one).
        words, exclude: texts to add to and to exclude from the examples.
        k: how many tiles to return.
        out_path, heatmap_path: optional result layer and heat-map (first index) to write.
        word_weight, negative_weight: say of the words to add and of those to exclude.
        crs_wkt: CRS of the footprints (None: the first index's).
        example_indexes: the indexes that hold the examples (None: `indexes`); an example is
            taken from the first that holds it.
        keep_examples: rank the example tiles too.

    Returns:
        dict with "hits" (as `text_search.search` returns them), "examples" (how many were
        found on a tile), "outside" (numbers of the examples that lie on no tile) and
        "example_tiles" (tiles they picked).

    Raises:
        ValueError: no example lies on a tile of the rasters, or no example was given.
    """
    example_indexes = indexes if example_indexes is None else example_indexes
    located, outside = located_examples(example_indexes, examples, examples_crs_wkt)
    query = example_query(example_indexes, located)
    negatives = None
    if words or exclude:
        query, negatives = add_words(indexes, model, query, words, exclude, word_weight)
    skip = {} if keep_examples else _example_tiles_by_index(indexes, example_indexes, located)
    hits = search_indexes(indexes, query, k, negatives, negative_weight, skip)
    crs_wkt = indexes[0].crs_wkt if crs_wkt is None else crs_wkt
    results = ranked_results(indexes, hits, crs_wkt)
    description = describe_query(len(located), words, exclude)
    if out_path:
        write_search_results(out_path, indexes, results, description, exclude, crs_wkt, extra={
            "examples": len(located), "examples_outside": len(outside), "words": list(words),
            "word_weight": word_weight, "example_tiles_ranked": bool(keep_examples)})
    if heatmap_path:
        write_heatmap(heatmap_path, indexes[0],
                      indexes[0].scores(query, negatives, negative_weight), description,
                      f"score {description}")
    return {"hits": results, "examples": len(located), "outside": outside,
            "example_tiles": sum(len(tiles) for _number, tiles in located)}


def describe_query(examples, words=(), exclude=()):
    """"like 3 examples + harbour - runway": what a search by example asked."""
    text = f"like {examples} example{'s' if examples != 1 else ''}"
    text += "".join(f" + {word}" for word in words)
    return text + "".join(f" - {word}" for word in exclude)


def located_examples(example_indexes, examples, examples_crs_wkt=None):
    """`example_tiles.locate_examples`, split into the examples found and those outside.

    Returns:
        (located, outside): located is a list of (index number, int64 tile array), one per
        example found on a tile; outside lists the numbers of the other examples.

    Raises:
        ValueError: no example, or none on a tile.
    """
    if not examples:
        raise ValueError("no example given: draw or choose at least one point or polygon on "
                         "a tile like the ones you look for")
    found = locate_examples(example_indexes, examples, examples_crs_wkt)
    located = [entry for entry in found if entry is not None]
    if not located:
        raise ValueError(f"none of the {len(examples)} example(s) lies on a tile of the "
                         "rasters: the examples must be inside a raster you search (or one "
                         "given as holding the examples), on its valid (non-nodata) area")
    return located, [number for number, entry in enumerate(found) if entry is None]


def example_query(example_indexes, located):
    """Normalised mean over examples of the normalised mean embedding of each one's tiles."""
    vectors = []
    for number, tiles in located:
        mean = example_indexes[number].embeddings[tiles].astype(np.float32).mean(axis=0)
        vectors.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
    query = np.mean(vectors, axis=0)
    return (query / max(float(np.linalg.norm(query)), 1e-12)).astype(np.float32)


def add_words(indexes, model, query, words, exclude, word_weight):
    """The query moved towards `words`, and the `exclude` vectors, on the image query's scale.

    A text embedding's cosine with image embeddings spreads far less than an image's does (the
    gap between the two modalities), so each text vector is scaled by the ratio of the spreads
    measured on a sample of the tiles: a weight of 1 then moves scores as much as the examples
    do (a sum of z-scores, ranked the same; the scan stays one product with one vector).
    """
    sample = _spread_sample(indexes)
    spread = float(np.std(sample @ query)) or 1.0

    def balanced(vector):
        vector = np.asarray(vector, np.float32)
        return vector * (spread / max(float(np.std(sample @ vector)), 1e-6))

    if words:
        text = model.text.encode(list(words)).astype(np.float32).mean(axis=0)
        query = query + float(word_weight) * balanced(text / np.linalg.norm(text))
    negatives = None
    if exclude:
        negatives = np.stack([balanced(v) for v in model.text.encode(list(exclude))])
    return query.astype(np.float32), negatives


def _spread_sample(indexes, count=SPREAD_SAMPLE):
    """About `count` tile embeddings (float32) taken evenly from all indexes."""
    total = sum(len(index) for index in indexes)
    step = max(1, total // count)
    return np.concatenate([index.embeddings[::step].astype(np.float32) for index in indexes])


def _example_tiles_by_index(indexes, example_indexes, located):
    """{number in `indexes`: set of example tiles} for examples in a searched index."""
    skip = {}
    for number, tiles in located:
        for searched, index in enumerate(indexes):
            if index is example_indexes[number]:
                skip.setdefault(searched, set()).update(int(t) for t in tiles)
    return skip

