"""Benchmark of labelling from examples: locate, fit and label over a large cached index.

`make bench` runs it (key `label_from_examples`); alone: `python tools/bench_fewshot.py`.
"""

import json
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def clustered_index(tiles, dim, classes, seed=0):
    """A TileIndex of `tiles` float16 unit embeddings around `classes` centres (tiles of a
    scene repeat), on a square grid of 128 px tiles in UTM 33N, and each tile's class."""
    from osgeo import osr

    from terralens.plugin.core.index import build_index

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim)).astype(np.float32)
    truth = rng.integers(0, classes, tiles)
    embeddings = np.empty((tiles, dim), np.float16)
    for first in range(0, tiles, 65536):  # blocks: no whole float32 copy
        part = truth[first:first + 65536]
        block = centres[part] + 1.2 * rng.standard_normal((len(part), dim)).astype(np.float32)
        embeddings[first:first + len(part)] = block / np.linalg.norm(block, axis=1,
                                                                     keepdims=True)
    side = int(np.ceil(np.sqrt(tiles)))
    cols, rows = np.meshgrid(np.arange(side) * 128, np.arange(side) * 128)
    windows = np.stack([cols.ravel(), rows.ravel(), np.full(side * side, 128),
                        np.full(side * side, 128)], axis=1)[:tiles].astype(np.int32)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    raster = {"width": side * 128, "height": side * 128, "path": "synthetic"}
    index = build_index(embeddings, windows, (400000.0, 0.6, 0.0, 5000000.0, 0.0, -0.6),
                        srs.ExportToWkt(), {"raster": raster, "tiling": {"tile_px": 128}})
    return index, truth


def run(model, tiles=100_000, examples=1000, classes=10, class_raster=False, refine=True):
    """Seconds to locate `examples` example points (alone), and for the whole job: locate, fit
    and validate the classifier, label and write every tile."""
    from terralens.plugin.core import pipeline
    from terralens.plugin.core.example_tiles import locate_examples

    index, truth = clustered_index(tiles, model.bundle.embedding_dim, classes)
    picked = np.random.default_rng(1).choice(tiles, examples, replace=False)
    names = [f"class {n}" for n in range(classes)]
    points = [f"POINT ({x} {y})" for x, y in
              (np.mean(index.footprint(t), axis=0) for t in picked)]
    example_set = pipeline.ExampleSet(points, [names[truth[t]] for t in picked])
    start = time.perf_counter()
    found = locate_examples([index], points)
    located = time.perf_counter() - start
    fitted = _fit_seconds(index, found, [truth[t] for t in picked], names)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        options = pipeline.LabelOptions(
            class_raster_path=Path(folder) / "classes.tif" if class_raster else None,
            refine=refine)
        summary = pipeline.label_from_examples([index], model, example_set,
                                               Path(folder) / "labels.gpkg", options=options)
        total = time.perf_counter() - start
    return {"tiles": tiles, "examples": examples, "classes": classes,
            "classifier": summary["classifier"]["method"],
            "validation": summary["validation"]["method"],
            "example_accuracy": summary["validation"]["accuracy"],
            "tiles_labelled": sum(summary["label_counts"].values()),
            "class_raster": class_raster, "refine_asked": refine,
            "refined": bool(summary["refinement"]),
            "locate_examples_s": round(located, 2), "fit_and_validate_s": round(fitted, 2),
            "whole_job_s": round(total, 2),
            "note": "whole job: locate, fit, validate, refine (only with class prototypes: "
                    "under 8 examples a class), label and write a GeoPackage"}


def _fit_seconds(index, found, classes, names):
    """Seconds to fit and validate the classifier on the located examples' tiles."""
    from terralens.plugin.core import example_classifier

    tiles = [tiles for _, tiles in found]
    embeddings = index.embeddings[np.concatenate(tiles)]
    labels = np.concatenate([[c] * len(t) for c, t in zip(classes, tiles)])
    groups = np.concatenate([[n] * len(t) for n, t in enumerate(tiles)])
    start = time.perf_counter()
    example_classifier.fit_and_validate(embeddings, labels, names, groups)  # as the job does
    return time.perf_counter() - start


def report(model):
    """The benchmark as `make bench` reports it: 1,000 examples (100 a class: the logistic
    regression, not refined by default) and 50 (5 a class: prototypes, refined by default)."""
    return {"default": run(model), "with_class_raster": run(model, class_raster=True),
            "5_examples_a_class_refined": run(model, examples=50),
            "5_examples_a_class_not_refined": run(model, examples=50, refine=False)}


if __name__ == "__main__":
    from terralens.plugin.core.encoders import load_model

    bundle = ROOT / "models" / "terralens-effnet-minilm-v1"
    print(json.dumps(report(load_model(bundle)), indent=2))
