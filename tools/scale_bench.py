"""Scale benchmark: does the automatic scale label real scenes as well as the best hand-chosen one?

Labels the mosaics of `tools/scale_mosaics.py` (UC Merced and RSSCN7 scenes at 2, 5, 10 and
30 m a pixel; never trained on) through `qgis_process run terralens:zeroshotlabel` with default
parameters, then with each ground sample distance of a fixed grid (`GRID_M`, chosen before any
run), and scores every cell: the label covering most of the cell's area among the tiles over it
(tiles weighted by the area they share with the cell) against the cell's class. The labels are
the set's class names in plain words, the model's own prompt template.

    .venv/bin/python tools/scale_bench.py [--sets ucm,rsscn7] [--out .cache/scale-bench]
    .venv/bin/python tools/scale_bench.py --sets aid-val --validation   # choosing the rule
    .venv/bin/python tools/scale_bench.py --sets aid-val --validation --bundle B --write
    .venv/bin/python tools/scale_bench.py --bundle runs/new/bundle      # another model

Prints JSON: per set and resolution the default's accuracy, scale and tile size, every grid
value's accuracy, the best of them and the gap. `--validation` labels the AID validation
mosaics at the raster's pixel size divided by each candidate largest enlargement
(`VALIDATION_UPSAMPLING`) instead: how the rule's enlargement limit is chosen for each model,
the candidate with the most cells right over all the mosaics (a tie: the smaller enlargement,
less blur and fewer tiles), reported as `chosen_max_upsampling`; `--write` records it in the
bundle (`scale.max_upsampling`).
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from osgeo import ogr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.headless import QgisProcess  # noqa: E402
from tools.scale_mosaics import OUT, ensure_mosaics, read_truth  # noqa: E402

# Metres of ground a model pixel, doubling from the default model's 0.6 m; a value enlarging
# the raster's pixels more than MAX_GRID_UPSAMPLING times is not run (tiles of a few raster
# pixels, tens of thousands of them, each a blur).
GRID_M = (0.6, 1.25, 2.5, 5.0, 10.0, 20.0, 40.0)
MAX_GRID_UPSAMPLING = 8.0
VALIDATION_UPSAMPLING = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)


def class_labels(truth):
    """The labels a mosaic is labelled with: its classes, sorted."""
    return sorted({row["label"] for row in truth})


def label_mosaic(qgis, raster, labels, out, gsd=None, model=()):
    """Run zeroshotlabel (default parameters unless `gsd`; `model`: ["MODEL=<bundle>"] or
    nothing for the default model); return (seconds, log)."""
    args = ["run", "terralens:zeroshotlabel", "--", f"INPUT={raster}",
            f"LABELS={','.join(labels)}", f"OUTPUT={out}",
            f"CLASS_RASTER={Path(out).with_suffix('.tif')}", *model]
    if gsd is not None:
        args.append(f"GSD={gsd:g}")
    start = time.perf_counter()
    result = qgis.run_json(*args)
    return time.perf_counter() - start, result.get("log", {})


def tile_labels(gpkg):
    """(bounds (T, 4) as minx, miny, maxx, maxy; labels list) of a labels layer."""
    dataset = ogr.Open(str(gpkg))
    layer = dataset.GetLayer(0)
    bounds, labels = [], []
    for feature in layer:
        minx, maxx, miny, maxy = feature.GetGeometryRef().GetEnvelope()
        bounds.append((minx, miny, maxx, maxy))
        labels.append(feature.GetField("label"))
    return np.asarray(bounds, np.float64).reshape(-1, 4), labels


def cell_predictions(truth, bounds, labels):
    """Per cell, the label with the most area among the tiles over it (None: no tile)."""
    cells = np.array([[r["minx"], r["miny"], r["maxx"], r["maxy"]] for r in truth])
    width = (np.minimum(cells[:, None, 2], bounds[None, :, 2])
             - np.maximum(cells[:, None, 0], bounds[None, :, 0])).clip(min=0)
    height = (np.minimum(cells[:, None, 3], bounds[None, :, 3])
              - np.maximum(cells[:, None, 1], bounds[None, :, 1])).clip(min=0)
    overlap = width * height  # (cells, tiles)
    names = sorted(set(labels))
    one_hot = np.zeros((len(labels), len(names)))
    one_hot[np.arange(len(labels)), [names.index(label) for label in labels]] = 1
    area = overlap @ one_hot
    return [names[int(np.argmax(row))] if row.max() > 0 else None for row in area]


def accuracy(truth, gpkg):
    """Percent of cells whose area-majority label is their class."""
    bounds, labels = tile_labels(gpkg)
    predicted = cell_predictions(truth, bounds, labels)
    return 100.0 * float(np.mean([p == r["label"] for p, r in zip(predicted, truth)]))


def scale_record(gpkg):
    """The scale the plugin recorded in the output's metadata."""
    from terralens.plugin.core.outputs import read_metadata
    return read_metadata(gpkg).get("scale") or {}


def grid_for(resolution_m, grid=GRID_M):
    """The grid values run at `resolution_m`: those enlarging a pixel at most 8 times."""
    return [g for g in grid if resolution_m / g <= MAX_GRID_UPSAMPLING]


def default_run(qgis, raster, work, truth, model=()):
    """Accuracy, scale and seconds of the run with default parameters."""
    out = Path(work) / f"{raster.stem}_default.gpkg"
    seconds, _ = label_mosaic(qgis, raster, class_labels(truth), out, model=model)
    scale = scale_record(out)
    return {"accuracy": round(accuracy(truth, out), 1), "gsd_m": scale.get("gsd_m"),
            "tile_px": scale.get("tile_px"), "tile_ground_m": scale.get("tile_ground_m"),
            "upsampling": scale.get("upsampling"), "seconds": round(seconds, 1)}


def bench_mosaic(qgis, raster, work, gsds, with_default=True, model=()):
    """Default run and a run per GSD of one mosaic: accuracies, the default's scale, seconds."""
    truth = read_truth(raster.with_name(raster.stem + "_truth.csv"))
    labels = class_labels(truth)
    result = {"cells": len(truth), "labels": len(labels), "grid": {}}
    if with_default:
        result["default"] = default_run(qgis, raster, work, truth, model)
        print(f"  {raster.stem} default: {result['default']}", file=sys.stderr, flush=True)
    for gsd in gsds:
        out = Path(work) / f"{raster.stem}_{gsd:g}.gpkg"
        seconds, _ = label_mosaic(qgis, raster, labels, out, gsd, model)
        result["grid"][f"{gsd:g}"] = round(accuracy(truth, out), 1)
        print(f"  {raster.stem} GSD {gsd:g} m: {result['grid'][f'{gsd:g}']} % "
              f"({seconds:.0f} s)", file=sys.stderr, flush=True)
    if result["grid"]:
        best = max(result["grid"], key=lambda k: (result["grid"][k], -float(k)))
        result["best"] = {"gsd_m": float(best), "accuracy": result["grid"][best]}
    if with_default and result["grid"]:
        result["gap"] = round(result["best"]["accuracy"] - result["default"]["accuracy"], 1)
    return result


def choose_limit(results, upsampling=VALIDATION_UPSAMPLING):
    """The validation's choice: ({enlargement: percent of all cells right}, the enlargement
    with the most cells right; a tie goes to the smaller). `results`: run()'s results of a
    validation. Counted in cells, as the accuracies are stored rounded."""
    runs = [mosaic for mosaics in results.values() for mosaic in mosaics.values()]
    cells = sum(mosaic["cells"] for mosaic in runs)
    right = {u: sum(round(list(mosaic["grid"].values())[i] * mosaic["cells"] / 100)
                    for mosaic in runs) for i, u in enumerate(upsampling)}
    return ({u: round(100 * r / cells, 2) for u, r in right.items()},
            max(right, key=lambda u: (right[u], -u)))


def write_limit(bundle_dir, limit):
    """Record `limit` as the bundle's `scale.max_upsampling` (bundle.json rewritten atomically)."""
    from terralens.plugin.core.bundle import load_bundle, save_bundle

    bundle = load_bundle(bundle_dir)
    if bundle.scale is None:
        raise SystemExit(f"{bundle_dir} records no scale range: export it with --gsd-range-m")
    bundle.scale.max_upsampling = float(limit)
    return save_bundle(bundle, bundle_dir)


def run(sets, out_dir=OUT, validation=False, grid=None, resolutions=None, bundle=None):
    """The benchmark (or the validation) as a dict, mosaics built into `out_dir` if missing.

    `grid` replaces the grid of ground sample distances (every value run, no default run);
    `resolutions` keeps only those mosaics (metres); `bundle` labels with that model bundle
    instead of the default model.
    """
    model = [f"MODEL={Path(bundle).resolve()}"] if bundle else []
    paths = ensure_mosaics(sets, out_dir)
    if resolutions:
        paths = {key: path for key, path in paths.items() if key[1] in resolutions}
    report = {"protocol": __doc__.split("\n\n")[1].replace("\n", " "),
              "grid_m": list(GRID_M) if not validation else None,
              "validation_upsampling": list(VALIDATION_UPSAMPLING) if validation else None,
              "bundle": str(bundle) if bundle else "the default model", "results": {}}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="terralens-scale-") as work:
        qgis = QgisProcess(Path(work) / "home", ROOT)
        qgis.enable_plugin()
        for (name, resolution), raster in paths.items():
            if validation:
                gsds = [resolution / u for u in VALIDATION_UPSAMPLING]
            else:
                gsds = list(grid) if grid else grid_for(resolution)
            result = bench_mosaic(qgis, raster, work, gsds,
                                  with_default=not (validation or grid), model=model)
            report["results"].setdefault(name, {})[f"{resolution:g}m"] = result
    report["seconds"] = round(time.perf_counter() - start, 1)
    if validation:
        report["mean_by_upsampling"], report["chosen_max_upsampling"] = choose_limit(
            report["results"])
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="ucm,rsscn7")
    parser.add_argument("--out", type=Path, default=OUT, help="where the mosaics are cached")
    parser.add_argument("--validation", action="store_true",
                        help="label at raster pixel / each candidate enlargement instead")
    parser.add_argument("--grid", help="comma list of ground sample distances to run instead "
                                       "of the grid (no default run), e.g. 0.6 for the old "
                                       "fixed default")
    parser.add_argument("--resolutions", help="comma list of mosaic resolutions (m) to run")
    parser.add_argument("--bundle", help="model bundle folder (default: the default model)")
    parser.add_argument("--write", action="store_true",
                        help="with --validation and --bundle: record the chosen limit in it")
    args = parser.parse_args(argv)
    if args.write and not (args.validation and args.bundle):
        parser.error("--write needs --validation and --bundle")
    report = run(args.sets.split(","), args.out, args.validation, _numbers(args.grid),
                 _numbers(args.resolutions), args.bundle)
    if args.write:
        write_limit(args.bundle, report["chosen_max_upsampling"])
    print(json.dumps(report, indent=2))


def _numbers(text):
    return [float(v) for v in text.split(",")] if text else None


if __name__ == "__main__":
    main()
