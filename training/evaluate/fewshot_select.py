"""How the few-shot classifier's settings were chosen: k-shot runs on AID validation images only.

Usage: `python -m training fewshot-select --bundle BUNDLE_DIR [--out selection.json]`.

The validation set is the RSICD-on-AID test split (1,027 images, 30 scene classes from the
caption table; the default model never trained on these images). UC Merced and RSSCN7, whose
k-shot figures the evaluator reports, are never read here. AID's class names are in the
captions the default model was trained on, so its text is far better on AID (90 % zero-shot)
than on new classes (48 % on UC Merced). The text is therefore also tried degraded: half of
the classes take another class's text ("swapped"), or noise is added to every text vector
("noised"). A choice must hold under all of them.

The same images also chose how many rotations of a tile the plugin averages by default
(`views`; `TileSettings.views`). The comparisons ran with one view a tile, as they were first
made; refinement is compared again at the default views (`refinement_at_default_views`), which
is where the rule for labels from examples (refine only class prototypes) was read.
"""

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from terralens.plugin.core import example_classifier
from terralens.plugin.core.atomic import atomic_write_text
from terralens.plugin.core.encoders import MAX_VIEWS, load_model
from terralens.plugin.core.tiled_raster import DEFAULT_VIEWS
from terralens.plugin.core.transductive import RefineSettings

from .data import DEFAULT_DATA_ROOT, class_phrase, image_reader, read_scene_classes
from .embed import DEFAULT_CACHE_DIR, Embedder, EmbeddingCache
from .evaluate import TEMPLATE, refined_accuracy
from .fewshot import draw, kshot_accuracy

SEEDS = tuple(range(1000, 1010))
SHOTS = (1, 2, 4, 8, 16)
VIEW_SHOTS = (1, 5, 16)
NOISE, DEGRADE_SEED = 0.3, 7
CALIBRATION = np.geomspace(1.0, 200.0, 200)


def text_variants(text):
    """The class names' text as it is, half of it swapped among classes, and noised."""
    rng = np.random.default_rng(DEGRADE_SEED)
    count = len(text)
    chosen = rng.choice(count, count // 2, replace=False)
    swapped = text.copy()
    swapped[chosen] = text[np.roll(chosen, 1)]
    noised = example_classifier.unit_rows(
        text + NOISE * rng.standard_normal(text.shape).astype(np.float32))
    return {"none": None, "class names": text, "half swapped": swapped, "noised": noised}


def method_comparison(images, labels, names, texts):
    """Prototypes against logistic regression at every k, for every text variant."""
    base = example_classifier.ClassifierSettings()
    methods = {"prototypes": replace(base, logistic_min_examples=10 ** 6),
               "logistic regression": replace(base, logistic_min_examples=1)}
    return {variant: {method: {str(k): round(kshot_accuracy(images, labels, names, k, SEEDS,
                                                             text, settings)["top1"], 2)
                               for k in SHOTS}
                      for method, settings in methods.items()}
            for variant, text in texts.items()}


REFINEMENTS = {
    "not refined": {"refine": False},
    "refined, examples relabelled": {"refine": True, "keep_examples": False},
    "refined, examples kept": {"refine": True},
    "refined, examples kept, text prior halved (TransCLIP few-shot lambda 0.5)": {
        "refine": True, "refine_settings": RefineSettings(prior_power=0.5)},
}


def refinement(images, labels, names, texts):
    """The chosen classifier without and with transductive refinement of all images: the
    examples' labels kept or not, the classifier's prior at full or half weight."""
    return {variant: {name: {str(k): round(kshot_accuracy(images, labels, names, k, SEEDS, text,
                                                           **options)["top1"], 2)
                             for k in SHOTS}
                      for name, options in REFINEMENTS.items()}
            for variant, text in texts.items()}


def centring(images, labels, names):
    """Prototypes without text on embeddings centred on all images, against none."""
    centred = example_classifier.unit_rows(images - images.mean(axis=0))
    return {name: {str(k): round(kshot_accuracy(data, labels, names, k, SEEDS)["top1"], 2)
                   for k in SHOTS}
            for name, data in (("not centred", images), ("centred on all images", centred))}


def calibrated_temperature(images, labels, k=1):
    """The temperature of k-shot prototypes that maximises the likelihood of the query
    images' classes (median over the seeds): the default image temperature."""
    found = []
    for seed in SEEDS:
        support = draw(labels, k, seed)
        rest = np.setdiff1d(np.arange(len(labels)), support)
        model = example_classifier.fit(images[support], labels[support],
                                       list(range(labels.max() + 1)))
        cosines = example_classifier.unit_rows(images[rest]) @ (
            model.weights / model.image_weight).T
        found.append(max(CALIBRATION, key=lambda t: example_classifier.log_likelihood(
            t * cosines, labels[rest])))
    return float(np.median(found))


def views_comparison(embedders, folder, text, logit_scale):
    """Zero-shot (as it is and refined) and k-shot accuracy without text, with 1 to MAX_VIEWS
    rotations of each image averaged: how many views tiles get by default (the fewest within
    0.5 points of the most on every figure, as encoding costs `views` times one)."""
    results = {}
    for views, embedder in embedders.items():
        images = embedder.images("aid", folder.paths)
        zero_shot = refined_accuracy(images, text, logit_scale, folder, RefineSettings())
        figures = {"zero_shot": round(zero_shot["inductive_top1"], 2),
                   "zero_shot_refined": round(zero_shot["top1"], 2)}
        for k in VIEW_SHOTS:
            figures[f"{k}_shot"] = round(kshot_accuracy(images, folder.labels,
                                                        folder.class_names, k, SEEDS)["top1"], 2)
        results[str(views)] = figures
    return results


def select(bundle_dir, data_root=DEFAULT_DATA_ROOT, cache_dir=DEFAULT_CACHE_DIR):
    """Every comparison the choice rests on, JSON-ready."""
    model = load_model(bundle_dir)
    embedder = Embedder(model, model.bundle.image.size, image_reader(),
                        EmbeddingCache(cache_dir), data_root)
    folder = read_scene_classes(Path(data_root) / "captions_rsicd_aid.tsv", data_root, "test")
    images = embedder.images("aid", folder.paths)
    text = model.text.encode([TEMPLATE.format(class_phrase(c)) for c in folder.class_names])
    texts = text_variants(text)
    zero_shot = {name: round(100.0 * float(np.mean(np.argmax(images @ t.T, 1) == folder.labels)),
                             2) for name, t in texts.items() if t is not None}
    return {"validation_set": "RSICD-on-AID test split, 1,027 images, 30 scene classes",
            "seeds": list(SEEDS), "zero_shot": zero_shot,
            "methods": method_comparison(images, folder.labels, folder.class_names, texts),
            "centring": centring(images, folder.labels, folder.class_names),
            "refinement": refinement(images, folder.labels, folder.class_names, texts),
            "refinement_at_default_views": {
                "views": DEFAULT_VIEWS,
                **refinement(Embedder(model, model.bundle.image.size, image_reader(),
                                      EmbeddingCache(cache_dir), data_root, views=DEFAULT_VIEWS)
                             .images("aid", folder.paths),
                             folder.labels, folder.class_names, texts)},
            "calibrated_1shot_temperature": calibrated_temperature(images, folder.labels),
            "views": views_comparison(
                {views: Embedder(model, model.bundle.image.size, image_reader(),
                                 EmbeddingCache(cache_dir), data_root, views=views)
                 for views in range(1, MAX_VIEWS + 1)},
                folder, text, model.bundle.logit_scale)}


def main(argv=None):
    """Command-line entry: print the comparisons as JSON."""
    parser = argparse.ArgumentParser(prog="python -m training fewshot-select", description=__doc__)
    parser.add_argument("--bundle", required=True, help="model bundle folder")
    parser.add_argument("--data", default=str(DEFAULT_DATA_ROOT), help="the shared data folder")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE_DIR), help="embedding cache")
    parser.add_argument("--out", help="also write the JSON to this file")
    args = parser.parse_args(argv)
    text = json.dumps(select(args.bundle, Path(args.data), args.cache or None), indent=2)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    print(text)
    return 0
