"""Measure search by example on scene data sets: how well one or five example images find the
other images of their class, alone and with the class name as words to add.

`--split val` uses the 1,027 AID images of the RSICD test split (the project's validation data;
never trained on, but AID's class names were training captions) and compares word weights; the
plugin's default weight (1: words and examples count alike, see DEFAULT_WORD_WEIGHT) was
checked there. `--split test` reports that weight, image only and words only on all 2,100 UC
Merced images (never trained or tuned on). Prints JSON.

For every class and seed, the examples are drawn at random from the class; every other image
of the set is ranked (the examples are left out, as the plugin does), and the average precision
of the class and the precision of the first 10 results are averaged over classes and seeds.
"""

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data"
WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
SEEDS = 5


def aid_test_images():
    """(paths, class names in plain words) of the AID images of the RSICD test split."""
    from training.data.data import plain_class_name

    images = {}
    with open(SHARED / "captions_rsicd_aid.tsv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["split"] == "test":
                images[row["image"]] = plain_class_name(row["scene_class"])
    paths = sorted(images)
    return [SHARED / p for p in paths], [images[p] for p in paths]


def ucm_images():
    from training.evaluate.data import class_phrase, list_image_folder

    folder = list_image_folder(SHARED / "ucm" / "images")
    return folder.paths, [class_phrase(folder.class_names[i]) for i in folder.labels]


def average_precision(relevant):
    """AP of a ranking given as booleans (best first)."""
    hits = np.cumsum(relevant)
    return float((hits[relevant] / (np.nonzero(relevant)[0] + 1)).mean()) if hits[-1] else 0.0


def scores_for(index, model, embeddings, examples, words, weight):
    """The plugin's query (example mean, words added at `weight`) scored on every image."""
    from terralens.plugin.core.pipeline.example_search import add_words, example_query

    query = example_query([index], [(0, np.asarray(examples))])
    if words and weight:
        query, _ = add_words([index], model, query, words, (), weight)
    return embeddings @ query


def measure(model, embeddings, names, shots, weights, text_only):
    """Mean AP and precision at 10 for each weight (and words alone), over classes and seeds."""
    from terralens.plugin.core.index import build_index

    index = build_index(embeddings.astype(np.float16), np.zeros((len(names), 4), np.int32),
                        (0, 1, 0, 0, 0, -1), "", {})
    names = np.asarray(names)
    text = {c: model.text.encode([c])[0] for c in sorted(set(names))}
    rows = {w: [] for w in weights}
    rows["words only"] = []
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        for name in sorted(set(names)):
            members = np.nonzero(names == name)[0]
            examples = rng.choice(members, shots, replace=False)
            rest = np.setdiff1d(np.arange(len(names)), examples)
            truth = names[rest] == name
            runs = {w: scores_for(index, model, embeddings, examples, [name], w)
                    for w in weights}
            if text_only:
                runs["words only"] = embeddings @ text[name]
            for key, scores in runs.items():
                order = np.argsort(-scores[rest], kind="stable")
                rows[key].append((average_precision(truth[order]), truth[order][:10].mean()))
    return {str(key): {"map": round(float(np.mean([r[0] for r in v])), 4),
                       "precision_at_10": round(float(np.mean([r[1] for r in v])), 4)}
            for key, v in rows.items() if v}


def run(split, bundle, cache):
    from terralens.plugin.core.encoders import load_model
    from training.evaluate.data import image_reader
    from training.evaluate.embed import Embedder, EmbeddingCache

    model = load_model(bundle)
    paths, names = aid_test_images() if split == "val" else ucm_images()
    embedder = Embedder(model, model.bundle.image.size, image_reader(), EmbeddingCache(cache),
                        SHARED)
    embeddings = embedder.images(f"{split}-examples", paths).astype(np.float32)
    if split == "val":
        weights = WEIGHTS
    else:
        from terralens.plugin.core.pipeline.example_search import DEFAULT_WORD_WEIGHT

        weights = (0.0, DEFAULT_WORD_WEIGHT)
    report = {"split": split, "images": len(paths), "classes": len(set(names)),
              "bundle": model.bundle.id, "seeds": SEEDS}
    for shots in (1, 5):
        report[f"{shots}_example"] = measure(model, embeddings, names, shots, weights,
                                             text_only=True)
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", choices=("val", "test"), required=True)
    parser.add_argument("--bundle", default=str(ROOT / "models" / "terralens-effnet-minilm-v1"))
    parser.add_argument("--cache", default=str(ROOT / ".cache" / "eval"))
    args = parser.parse_args()
    print(json.dumps(run(args.split, args.bundle, args.cache), indent=2))


if __name__ == "__main__":
    main()
