"""Evaluate a model bundle as the plugin runs it: zero-shot (inductive and transductive),
retrieval, kNN, prompt-mask IoU and k-shot labelling from examples.

Usage: `python -m training evaluate --bundle BUNDLE_DIR
[--tasks zeroshot,transductive,retrieval,knn,iou,fewshot]
[--image-size N] [--out results.json]`. It needs no torch: it runs the bundle's ONNX files
through `terralens.plugin.core.encoders.load_model`. The protocol is /work/shared/data/DATA.md.
"""

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from terralens.plugin.core.atomic import atomic_write_text
from terralens.plugin.core.encoders import MAX_VIEWS, load_model
from terralens.plugin.core.labels import label_probabilities
from terralens.plugin.core.transductive import refine, settings_for, soften

from . import tasks as eval_tasks
from .data import (
    DEFAULT_DATA_ROOT,
    class_phrase,
    image_reader,
    list_image_folder,
    read_captions,
)
from .embed import DEFAULT_CACHE_DIR, Embedder, EmbeddingCache, file_fingerprint
from .fewshot import few_shot

TASKS = ("zeroshot", "transductive", "retrieval", "knn", "iou", "fewshot")
TEMPLATE = "a remote sensing image of a {}."
# Fixed before any figure was seen; reported beside the single template, never instead.
ENSEMBLE_TEMPLATES = (
    "a remote sensing image of a {}.", "a satellite image of a {}.", "an aerial image of a {}.",
    "an aerial photograph of a {}.", "a satellite photo of the {}.",
    "a high resolution satellite image of a {}.", "a top-down view of a {}.",
    "a remote sensing image of many {}.",
)
CLASS_SETS = {"ucm": "ucm/images", "rsscn7": "rsscn7"}
CAPTION_SETS = {  # name: (table, split, image cache name, note)
    "rsicd_aid_test": ("captions_rsicd_aid.tsv", "test", "aid",
                       "RSICD test split restricted to the 1,027 of 1,093 test images whose "
                       "source image is in AID (5 captions an image)"),
    "ucm_captions": ("captions_ucm.tsv", None, "ucm",
                     "all rows of UCM-Captions (train and test; UCM is never trained on)"),
    # Reported beside the full set, never instead: published UCM-Captions figures use this
    # split, and with 210 images instead of 2,100 its recalls are far higher.
    "ucm_captions_test": ("captions_ucm.tsv", "test", "ucm",
                          "UCM-Captions test split only (210 images, 1,050 captions): the "
                          "split of published UCM-Captions figures; beside the full set"),
}
KNN_K, KNN_FOLDS = 20, 5
KNN_RULE = ("fold f holds the images whose index i in the list sorted by '<class>/<file>' has "
            "i % 5 == f; each image takes the majority class of its 20 most cosine-similar "
            "images in the other folds (class ties: larger summed similarity); top-1 over all "
            "images")


def class_vectors(embedder, folder):
    """Class phrases and their unit text vectors: one template, and the template ensemble."""
    phrases = [class_phrase(c) for c in folder.class_names]
    single = embedder.model.text.encode([TEMPLATE.format(p) for p in phrases])
    stacked = [embedder.model.text.encode([t.format(p) for p in phrases])
               for t in ENSEMBLE_TEMPLATES]
    return phrases, single, eval_tasks.ensemble_class_embeddings(stacked)


def zero_shot(embedder, folders):
    """Zero-shot top-1 with one template, and separately with the template ensemble."""
    results = {"template": TEMPLATE, "ensemble_templates": list(ENSEMBLE_TEMPLATES)}
    for name, folder in folders.items():
        images = embedder.images(name, folder.paths)
        phrases, single, ensemble = class_vectors(embedder, folder)
        report = eval_tasks.accuracy_report(
            eval_tasks.zero_shot_predictions(images, single), folder.labels, folder.class_names)
        ensemble_report = eval_tasks.accuracy_report(
            eval_tasks.zero_shot_predictions(images, ensemble), folder.labels,
            folder.class_names)
        results[name] = {"images": len(folder.paths), "classes": len(phrases),
                         "chance": 100.0 / len(phrases),
                         "class_phrases": dict(zip(folder.class_names, phrases)),
                         "top1": report["top1"], "per_class": report["per_class"],
                         "prompt_ensemble": ensemble_report}
    return results


def transductive(embedder, folders):
    """Zero-shot top-1 after transductive refinement (all images of a set refined together, as
    the plugin refines the tiles of a raster), beside the inductive top-1 it starts from."""
    settings = settings_for(embedder.model.bundle)
    results = {"method": settings.describe(), "template": TEMPLATE,
               "note": "reported beside the inductive zero-shot task, never instead; "
                       "refined on float16 embeddings, the prior at the bundle's logit_scale"}
    scale = embedder.model.bundle.logit_scale
    for name, folder in folders.items():
        images = embedder.images(name, folder.paths)
        _, single, ensemble = class_vectors(embedder, folder)
        results[name] = {"images": len(folder.paths), "classes": len(folder.class_names),
                         **refined_accuracy(images, single, scale, folder, settings),
                         "prompt_ensemble": refined_accuracy(images, ensemble, scale, folder,
                                                              settings)}
    return results


def refined_accuracy(images, class_embeddings, logit_scale, folder, settings):
    """As the plugin does: probabilities from float32 embeddings, refinement on float16 ones."""
    inductive = label_probabilities(images, class_embeddings, logit_scale)
    # refined once, softened after: the softening is the refinement's last step
    refinement = refine(images.astype(np.float16), inductive,
                        replace(settings, score_temperature=1.0))
    as_optimised = refinement.probabilities
    softened = soften(as_optimised, settings.score_temperature)
    refined = eval_tasks.accuracy_report(np.argmax(softened, axis=1),
                                         folder.labels, folder.class_names)
    before = eval_tasks.accuracy_report(np.argmax(inductive, axis=1), folder.labels,
                                        folder.class_names)
    return {"top1": refined["top1"], "inductive_top1": before["top1"],
            "gain": refined["top1"] - before["top1"], "per_class": refined["per_class"],
            "refinement": refinement.describe(),
            "scores": {"inductive": eval_tasks.score_figures(inductive, folder.labels),
                       "refined": eval_tasks.score_figures(softened, folder.labels),
                       "refined_before_softening": eval_tasks.score_figures(as_optimised,
                                                                            folder.labels)}}


def knn(embedder, folders):
    """20-NN top-1 on image embeddings, 5 folds by image index."""
    results = {"k": KNN_K, "folds": KNN_FOLDS, "rule": KNN_RULE}
    for name, folder in folders.items():
        report = eval_tasks.knn_report(embedder.images(name, folder.paths), folder.labels,
                                       folder.class_names, KNN_K, KNN_FOLDS)
        results[name] = {"images": len(folder.paths), **report}
    return results


def retrieval(embedder, data_root, limit):
    """Recall@1/5/10 both ways and mean recall on the caption sets."""
    results = {}
    for name, (table, split, image_name, note) in CAPTION_SETS.items():
        captions = read_captions(Path(data_root) / table, data_root, split, limit)
        images = embedder.images(image_name, captions.image_paths)
        texts = embedder.texts(f"text-{name}", captions.captions)
        results[name] = {"table": table, "split": split or "all", "note": note,
                         "images": len(captions.image_paths), "captions": len(captions.captions),
                         **eval_tasks.retrieval_recalls(images, texts, captions.caption_image)}
    return results


def prompt_iou(model, data_root, limit=None):
    """The prompt-mask IoU task, or why it was skipped (GDAL missing)."""
    try:
        import osgeo.gdal  # noqa: F401
    except ImportError:
        return {"skipped": "needs GDAL's Python bindings (osgeo): run in the QGIS-side .venv"}
    from .iou import prompt_mask_iou
    from .iou_s2 import sentinel2_iou

    return {**prompt_mask_iou(model, data_root),
            "sentinel2": sentinel2_iou(model, data_root, limit=limit)}


def evaluate(bundle_dir, tasks=TASKS, image_size=None, data_root=DEFAULT_DATA_ROOT,
             cache_dir=DEFAULT_CACHE_DIR, limit=None, progress=True, threads=None, views=1):
    """Run the evaluation tasks on a bundle and return the JSON-ready results.

    Args:
        bundle_dir: a model bundle folder (bundle.json, image.onnx, text.onnx).
        tasks: any of "zeroshot", "transductive", "retrieval", "knn", "iou", "fewshot".
        image_size: pixels a side fed to the image encoder (None: the bundle's image.size).
        data_root: the folder that holds ucm/, rsscn7/, aid/, scenes/ and the caption tables.
        cache_dir: where image and text embeddings are cached (None: no cache).
        limit: use only the first `limit` images of every class (quick checks).
        progress: print progress lines on stderr.
        threads: onnxruntime intra-op threads (None: one per physical core).
        views: rotations of each image encoded and averaged (1, as published figures; the
            plugin's tiles default to 3, `TileSettings.views`). Prompt masks use one.
    """
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown or not tasks:
        raise ValueError(f"unknown tasks {unknown}: choose from {', '.join(TASKS)}")
    started = time.perf_counter()
    model = load_model(bundle_dir, threads=threads)
    bundle = model.bundle
    if image_size:
        bundle.image.size = int(image_size)  # the encoder checks pixels against this size
    reader = image_reader()
    embedder = Embedder(model, bundle.image.size, reader, EmbeddingCache(cache_dir), data_root,
                        progress, views)
    folders = {}
    if {"zeroshot", "transductive", "knn", "fewshot"} & set(tasks):
        folders = {name: list_image_folder(Path(data_root) / sub, limit)
                   for name, sub in CLASS_SETS.items()}
    results = {}
    for task in [t for t in TASKS if t in tasks]:
        tic = time.perf_counter()
        if task == "zeroshot":
            results[task] = zero_shot(embedder, folders)
        elif task == "transductive":
            results[task] = transductive(embedder, folders)
        elif task == "knn":
            results[task] = knn(embedder, folders)
        elif task == "retrieval":
            results[task] = retrieval(embedder, data_root, limit)
        elif task == "fewshot":
            results[task] = few_shot(embedder, folders, TEMPLATE)
        else:
            results[task] = prompt_iou(model, data_root, limit)
        results[task]["seconds"] = time.perf_counter() - tic
    record = _record(bundle, bundle_dir, image_size, reader, data_root, limit, embedder.stats,
                     _rounded(results), time.perf_counter() - started)
    return {**record, "views": embedder.views}


def _record(bundle, bundle_dir, image_size, reader, data_root, limit, stats, results, seconds):
    encoder_seconds = stats["encoder_seconds"]
    return {
        "bundle": {"id": bundle.id, "name": bundle.name, "folder": str(Path(bundle_dir)),
                   "image_onnx": file_fingerprint(bundle.path(bundle.image.file)),
                   "text_onnx": file_fingerprint(bundle.path(bundle.text.file))},
        "image_size": bundle.image.size,
        "image_size_from": "--image-size" if image_size else "bundle image.size",
        "image_reader": reader, "data_root": str(data_root), "limit_per_class": limit,
        "scores": "percent", "tasks": results,
        "image_encoder": {"images_encoded": stats["images_encoded"],
                          "images_reused": stats["images_reused"],
                          "seconds": round(encoder_seconds, 2),
                          "tiles_per_second": round(stats["images_encoded"] / encoder_seconds, 1)
                          if encoder_seconds > 0 else None},
        "seconds": round(seconds, 2),
    }


def _rounded(value):
    """Floats rounded to two decimals, through nested dicts and lists."""
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training evaluate", description=__doc__)
    parser.add_argument("--bundle", required=True, help="model bundle folder")
    parser.add_argument("--tasks", default=",".join(TASKS),
                        help="comma-separated subset of " + ",".join(TASKS))
    parser.add_argument("--image-size", type=int, help="encoder input size (default: bundle's)")
    parser.add_argument("--out", help="also write the JSON to this file")
    parser.add_argument("--data", default=str(DEFAULT_DATA_ROOT), help="the shared data folder")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE_DIR),
                        help="embedding cache folder ('' for none)")
    parser.add_argument("--limit", type=int, help="first N images of every class (quick runs)")
    parser.add_argument("--threads", type=int, help="onnxruntime threads")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--views", type=int, default=1, choices=range(1, MAX_VIEWS + 1),
                        help="rotations of each image averaged (default 1; the plugin's tiles "
                             "use 3)")
    return parser.parse_args(argv)


def main(argv=None):
    """Command-line entry: print the results as JSON (and write them to --out)."""
    args = parse_args(argv)
    tasks = [task.strip() for task in args.tasks.split(",") if task.strip()]
    results = evaluate(args.bundle, tasks, args.image_size, Path(args.data),
                       args.cache or None, args.limit, not args.quiet, args.threads,
                       args.views)
    text = json.dumps(results, indent=2, allow_nan=False)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    print(text)
    return 0
