"""Whether a newly trained image encoder replaces the default: AID validation images only.

Usage: `python -m training encoder-select --current BUNDLE --candidate BUNDLE
[--current-recall R --candidate-recall R] [--out choice.json]`.

Both bundles label the RSICD-on-AID test split (1,027 images, 30 scene classes, never trained
on) as the plugin does by default (3 rotations a tile): zero-shot with the class names, and
k examples a class (k = 1, 5, 16; the fewshot-select seeds) without text, with half of the
class texts swapped, and with the class names, refined while the classifier is prototypes.
UC Merced and RSSCN7, whose figures the model card reports, are never read here.

The rule (fixed before the 20-epoch CPU run's figures were seen): the candidate replaces the
current encoder when its mean k-shot accuracy without text is higher (the image features, which
labels from examples, search and change detection rest on), its mean with half-swapped texts is
not lower, and its held-out train mean recall (the training run's own epoch choice, `best.json`)
is not lower. AID zero-shot is reported but not part of the rule: AID's class names are in the
training captions, so it says little about words the model never saw.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from terralens.plugin.core.atomic import atomic_write_text
from terralens.plugin.core.encoders import load_model
from terralens.plugin.core.tiled_raster import DEFAULT_VIEWS
from terralens.plugin.core.transductive import settings_for

from .data import DEFAULT_DATA_ROOT, ImageFolder, class_phrase, image_reader, read_scene_classes
from .embed import DEFAULT_CACHE_DIR, Embedder, EmbeddingCache
from .evaluate import TEMPLATE, refined_accuracy
from .fewshot import kshot_accuracy
from .fewshot_select import SEEDS, text_variants

SHOTS = (1, 5, 16)
TEXT_VARIANTS = ("none", "half swapped", "class names")


def validation_figures(bundle_dir, data_root=DEFAULT_DATA_ROOT, cache_dir=DEFAULT_CACHE_DIR,
                       limit=None, shots=SHOTS):
    """One bundle's AID validation figures at the plugin's default rotations, JSON-ready."""
    model = load_model(bundle_dir)
    folder = read_scene_classes(Path(data_root) / "captions_rsicd_aid.tsv", data_root, "test")
    if limit:
        keep = np.concatenate([np.flatnonzero(folder.labels == c)[:limit]
                               for c in range(len(folder.class_names))])
        folder = ImageFolder([folder.paths[i] for i in keep], folder.labels[keep],
                             folder.class_names)
    embedder = Embedder(model, model.bundle.image.size, image_reader(),
                        EmbeddingCache(cache_dir), data_root, views=DEFAULT_VIEWS)
    images = embedder.images("aid", folder.paths)
    text = model.text.encode([TEMPLATE.format(class_phrase(c)) for c in folder.class_names])
    zero_shot = refined_accuracy(images, text, model.bundle.logit_scale, folder,
                                 settings_for(model.bundle))
    figures = {"zero_shot": round(zero_shot["inductive_top1"], 2),
               "zero_shot_refined": round(zero_shot["top1"], 2)}
    texts = text_variants(text)
    for variant in TEXT_VARIANTS:
        row = {str(k): round(kshot_accuracy(images, folder.labels, folder.class_names, k, SEEDS,
                                            texts[variant], refine="auto")["top1"], 2)
               for k in shots}
        row["mean"] = round(float(np.mean(list(row.values()))), 2)
        figures[f"k_shot_{variant.replace(' ', '_')}"] = row
    return figures


def choose(current, candidate, current_recall=None, candidate_recall=None):
    """The rule of the module docstring: (replace?, the reasons as sentences)."""
    checks = [
        ("mean k-shot without text higher", candidate["k_shot_none"]["mean"]
         > current["k_shot_none"]["mean"]),
        ("mean k-shot with half-swapped texts not lower", candidate["k_shot_half_swapped"]["mean"]
         >= current["k_shot_half_swapped"]["mean"]),
    ]
    if current_recall is not None and candidate_recall is not None:
        checks.append(("held-out train mean recall not lower", candidate_recall >= current_recall))
    return all(ok for _, ok in checks), [f"{what}: {'yes' if ok else 'no'}" for what, ok in checks]


def main(argv=None):
    """Command-line entry: both bundles' figures, the rule's verdict, as JSON."""
    parser = argparse.ArgumentParser(prog="python -m training encoder-select",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--current", required=True, help="the default model's bundle folder")
    parser.add_argument("--candidate", required=True, help="the new model's bundle folder")
    parser.add_argument("--current-recall", type=float, help="held-out train mean recall")
    parser.add_argument("--candidate-recall", type=float, help="held-out train mean recall")
    parser.add_argument("--data", default=str(DEFAULT_DATA_ROOT), help="the shared data folder")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE_DIR), help="embedding cache")
    parser.add_argument("--limit", type=int, help="first N images of every class (tests)")
    parser.add_argument("--out", help="also write the JSON to this file")
    args = parser.parse_args(argv)
    shots = SHOTS if not args.limit else tuple(k for k in SHOTS if k < args.limit)
    figures = {name: validation_figures(path, args.data, args.cache or None, args.limit, shots)
               for name, path in (("current", args.current), ("candidate", args.candidate))}
    replace, reasons = choose(figures["current"], figures["candidate"], args.current_recall,
                              args.candidate_recall)
    result = {"validation_set": "RSICD-on-AID test split (AID scene classes), "
                                f"{DEFAULT_VIEWS} rotations a tile",
              "seeds": list(SEEDS), "bundles": {"current": args.current,
                                                 "candidate": args.candidate},
              "held_out_train_mean_recall": {"current": args.current_recall,
                                             "candidate": args.candidate_recall},
              **figures, "replace": replace, "reasons": reasons}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    return 0

