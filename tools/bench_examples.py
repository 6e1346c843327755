"""Benchmarks of search by example beside text search (imported by tools/bench.py)."""

import time

import numpy as np

GRID_TILE_PX, PIXEL_M = 128, 0.6


def grid_index(count, dim, seed=0):
    """A clustered synthetic index of `count` tiles on a square grid in UTM 33N (like real
    tile embeddings, scenes repeat), with an inverted file above the exact-search limit."""
    from osgeo import osr

    from terralens.plugin.core.index import build_index

    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(count)))
    cols, rows = np.meshgrid(np.arange(side) * GRID_TILE_PX, np.arange(side) * GRID_TILE_PX)
    windows = np.stack([cols.ravel(), rows.ravel(), np.full(side * side, GRID_TILE_PX),
                        np.full(side * side, GRID_TILE_PX)], axis=1)[:count].astype(np.int32)
    centres = rng.standard_normal((max(8, count // 200), dim)).astype(np.float32)
    points = centres[rng.integers(0, len(centres), count)]
    points += 2.4 * rng.standard_normal((count, dim)).astype(np.float32) / np.sqrt(dim)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    return build_index(points.astype(np.float16), windows,
                       (400000.0, PIXEL_M, 0.0, 5000000.0, 0.0, -PIXEL_M), srs.ExportToWkt(), {})


def example_points(index, count, rng):
    """WKT points at the centres of `count` random tiles."""
    points = []
    for tile in rng.integers(0, len(index), count):
        xs, ys = zip(*index.footprint(int(tile)))
        points.append(f"POINT ({sum(xs) / 4} {sum(ys) / 4})")
    return points


def search_cases(index, model, rng, words):
    """name -> function(query text) running one search of that kind on `index`."""
    from terralens.plugin.core import pipeline

    def like(count, extra=()):
        return lambda _query: pipeline.search_by_example(
            [index], model, example_points(index, count, rng), words=list(extra), k=20)

    return {"text": lambda query: pipeline.search([index], model, query, k=20),
            "1_example": like(1), "5_examples": like(5),
            "1_example_and_words": like(1, [words])}


def example_search_latency(model, counts, queries=9, words="solar panels"):
    """Median latency (ms) of a text query and of searches by 1 and 5 example points (and by 1
    example with words), k = 20, over indexes of `counts` tiles; all through the pipeline, so
    text encoding and locating the examples are counted."""
    rng = np.random.default_rng(1)
    texts = ["forest", "harbour", "farmland", "parking lot", "river", "airport", "beach",
             "industrial area", "golf course"][:queries]
    results = {}
    for count in counts:
        index = grid_index(count, model.bundle.embedding_dim)
        row = {"clustered": index.clusters is not None}
        for name, run in search_cases(index, model, rng, words).items():
            run(texts[0])  # warm-up (float32 copy of a small index, ONNX session)
            times = []
            for query in texts:
                start = time.perf_counter()
                run(query)
                times.append((time.perf_counter() - start) * 1000)
            row[f"{name}_median_ms"] = round(float(np.median(times)), 1)
        results[str(count)] = row
    return results
