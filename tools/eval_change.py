"""Measure change detection (`pipeline.detect_changes`) on real before / after pairs.

`--split val` builds pairs from AID scenes (the project's validation data) and compares the
threshold rules below; the rule used by the plugin was chosen there, before any UC Merced pair
was run: the best mean F1 over the pairs with change, among the rules that mark at most 5 % of
the tiles of the pairs without change. `--split test` builds pairs from UC Merced scenes
(never trained or tuned on) and reports the plugin's rule. Prints one JSON object.

Every pair: an 8 x 8 mosaic of real scenes (UTM 16N), and a copy where a share of the cells
holds a scene of another class, reprojected to longitude/latitude at another pixel size.
Variant "light" also changes the copy's brightness and colour balance (gamma 0.8, gains
1.10/1.00/0.88), as another date's light might. See tools/change_pairs.py.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from osgeo import ogr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import change_pairs  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
SPLITS = {  # scenes, file pattern, cell side in px, ground sample distance in m
    "val": (SHARED / "aid" / "images", "*.webp", 150, 0.512),
    "test": (SHARED / "ucm" / "images", "*/*.webp", 256, 0.3),
}
FRACTIONS = (0.0, 0.05, 0.1, 0.25, 0.5)
VARIANTS = {"plain": None, "light": (0.8, (1.10, 1.00, 0.88))}
GRID = 8
MAX_FALSE_ALARMS = 0.05


def rules():
    """Threshold rules compared on the validation pairs: name -> scores -> threshold."""
    from terralens.plugin.core import change_scores as cs

    table = {f"robust_k{k:g}": (lambda s, k=k: cs.robust_threshold(s, k)) for k in (2, 3, 4, 5)}
    table["otsu"] = cs.otsu_threshold
    table["max_otsu_robust_k3"] = lambda s: max(cs.otsu_threshold(s), cs.robust_threshold(s, 3))
    for k in (2, 3, 4, 5, 6):
        table[f"iterated_robust_k{k:g}"] = lambda s, k=k: cs.iterated_robust_threshold(s, k)
    return table


def tile_scores(pair, model, cache):
    """Change score of every tile and whether its cell changed (tiles are cells)."""
    from terralens.plugin.core.pipeline.change import detect_changes

    before, after, changed = pair
    out = Path(cache) / "changes.gpkg"
    detect_changes(before, after, model, out, cache_dir=cache)
    dataset = ogr.Open(str(out))
    scores, truth = [], []
    x0, y0 = change_pairs.ORIGIN
    for feature in dataset.GetLayer(0):
        minx, maxx, miny, maxy = feature.GetGeometryRef().GetEnvelope()
        cell = maxx - minx  # a tile is exactly one cell
        col = int(((minx + maxx) / 2 - x0) // cell)
        row = int((y0 - (miny + maxy) / 2) // cell)
        scores.append(feature["change"])
        truth.append(bool(changed[row * GRID + col]))
    return np.array(scores), np.array(truth)


def auc(scores, truth):
    """Area under the ROC curve: chance that a changed tile scores above an unchanged one."""
    positive, negative = scores[truth], scores[~truth]
    if not len(positive) or not len(negative):
        return None
    greater = (positive[:, None] > negative[None, :]).mean()
    ties = (positive[:, None] == negative[None, :]).mean()
    return float(greater + ties / 2)


def summarise(results, threshold):
    """Precision, recall, F1 (pooled and mean per pair) over pairs with change; the share of
    tiles marked on pairs without change."""
    tp = fp = fn = 0
    f1s, alarms, cuts = [], [], []
    for scores, truth in results:
        cuts.append(threshold(scores))
        marked = scores > cuts[-1]
        if not truth.any():
            alarms.append(float(marked.mean()))
            continue
        a, b, c = int((marked & truth).sum()), int((marked & ~truth).sum()), int(
            (~marked & truth).sum())
        tp, fp, fn = tp + a, fp + b, fn + c
        f1s.append(2 * a / max(1, 2 * a + b + c))
    precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
    return {"precision": round(precision, 3), "recall": round(recall, 3),
            "f1": round(2 * precision * recall / max(1e-9, precision + recall), 3),
            "mean_pair_f1": round(float(np.mean(f1s)), 3) if f1s else None,
            "marked_without_change": round(float(np.mean(alarms)), 3) if alarms else None,
            "threshold_range": [round(float(min(cuts)), 3), round(float(max(cuts)), 3)]}


def run(split, seeds, bundle):
    from terralens.plugin.core.change_scores import adaptive_threshold
    from terralens.plugin.core.encoders import load_model

    folder, pattern, side, gsd = SPLITS[split]
    by_class = change_pairs.scenes(folder, pattern)
    model = load_model(bundle)
    results = {variant: [] for variant in VARIANTS}
    with tempfile.TemporaryDirectory() as scratch:
        for variant, light in VARIANTS.items():
            for fraction in FRACTIONS:
                for seed in range(seeds):
                    where = Path(scratch) / f"{variant}-{fraction}-{seed}"
                    pair = change_pairs.make_pair(where, by_class, GRID, side, gsd, fraction,
                                                  seed, light=light)
                    results[variant].append(tile_scores(pair, model, where))
    table = rules() if split == "val" else {"adaptive (iterated_robust_k6)": adaptive_threshold}
    report = {"split": split, "scenes": str(folder), "bundle": model.bundle.id,
              "pairs_per_variant": len(FRACTIONS) * seeds, "tiles_per_pair": GRID * GRID,
              "fractions_changed": FRACTIONS, "seeds": seeds}
    for variant, pairs in results.items():
        scores = np.concatenate([s for s, _ in pairs])
        truth = np.concatenate([t for _, t in pairs])
        report[variant] = {"auc": round(auc(scores, truth), 4),
                           "rules": {name: summarise(pairs, rule) for name, rule in table.items()}}
    if split == "val":
        report["chosen"] = choose(report)
    return report


def choose(report):
    """The rule with the best mean pair F1 (averaged over the variants) among those that mark
    at most MAX_FALSE_ALARMS of the tiles of unchanged pairs in every variant."""
    names = report["plain"]["rules"].keys()
    allowed = [n for n in names if all(report[v]["rules"][n]["marked_without_change"]
                                       <= MAX_FALSE_ALARMS for v in VARIANTS)]
    return max(allowed or names, key=lambda n: np.mean(
        [report[v]["rules"][n]["mean_pair_f1"] for v in VARIANTS]))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", choices=sorted(SPLITS), required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--bundle", default=str(ROOT / "models" / "terralens-effnet-minilm-v1"))
    args = parser.parse_args()
    print(json.dumps(run(args.split, args.seeds, args.bundle), indent=2))


if __name__ == "__main__":
    main()
