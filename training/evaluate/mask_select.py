"""How prompt-mask defaults are chosen: validation sets only, never SpaceNet or the S2 test half.

Usage: `python -m training mask-select [--bundle B] [--candidates JSON] [--out F]`.

Two validation sets:
1. the Sentinel-2 validation half (`iou_s2.VALIDATION`): water and vegetation truth from the
   near-infrared band the model never reads;
2. sixteen 4 x 4 mosaics of AID *train* images (150 px, georeferenced at 0.51 m a pixel so that
   an image is about one 77 m tile of the default model), four a prompt, covering 2, 5, 8 and
   12 of 16 cells; truth: the cells of the prompt's scene classes (`trees`: forest; `building`:
   dense residential, commercial, industrial; `farmland`; `bare ground`: bareland, desert).
   Other cells come from classes that are neither the prompt's nor close to it (`NEAR`), drawn
   with a fixed seed. The model was trained on these images, so the set can rank mask methods
   (which it was not trained for) but gives no held-out figure.

The mosaics were first built by a one-off script (figures in docs/measurements.md, "Prompt
masks"); this module rebuilds the set from its description, so its figures differ from those.
"""

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from terralens.plugin.core.atomic import atomic_write_text
from terralens.plugin.core.outputs import write_geotiff

from .data import DEFAULT_DATA_ROOT, _caption_rows
from .iou import _percent, mask_on_grid, raster_grid
from .iou_s2 import pooled_iou, sentinel2_iou

PROMPTS = {"trees": ("Forest",), "building": ("DenseResidential", "Commercial", "Industrial"),
           "farmland": ("Farmland",), "bare ground": ("BareLand", "Desert")}
# classes that show much of a prompt's thing without being its truth: never used as its negatives
NEAR = {"trees": ("Park", "Resort", "Meadow", "Mountain", "SparseResidential"),
        "building": ("MediumResidential", "SparseResidential", "School", "Church", "Center",
                     "RailwayStation", "Stadium", "Square", "Playground", "Resort", "Port",
                     "Airport", "Parking", "StorageTanks"),
        "farmland": ("Meadow",), "bare ground": ("Mountain", "Beach")}
POSITIVE_CELLS = (2, 5, 8, 12)
GRID, IMAGE_PX, PIXEL_M, SEED = 4, 150, 0.51, 0
EPSG = 32633


def train_images(data_root):
    """{scene class: sorted AID train image paths}."""
    classes = {}
    for row in _caption_rows(Path(data_root) / "captions_rsicd_aid.tsv", "train"):
        classes.setdefault(row["scene_class"], set()).add(row["image"])
    return {name: sorted(images) for name, images in classes.items()}


def mosaic_plan(images, prompt, positives, rng):
    """16 (image, is the prompt) cells, positives placed at random, in row-major order."""
    own = [i for c in PROMPTS[prompt] for i in images[c]]
    banned = set(PROMPTS[prompt]) | set(NEAR[prompt])
    others = [i for c, paths in images.items() if c not in banned for i in paths]
    cells = GRID * GRID
    chosen = ([(own[k], True) for k in rng.choice(len(own), positives, replace=False)]
              + [(others[k], False) for k in rng.choice(len(others), cells - positives,
                                                        replace=False)])
    return [chosen[k] for k in rng.permutation(cells)]


def write_mosaic(path, plan, data_root):
    """The mosaic GeoTIFF (Byte RGB, UTM) and its truth mask (rows, cols) bool."""
    from osgeo import gdal, osr

    side = GRID * IMAGE_PX
    pixels = np.zeros((3, side, side), np.uint8)
    truth = np.zeros((side, side), bool)
    for cell, (image, positive) in enumerate(plan):
        row, col = divmod(cell, GRID)
        block = gdal.Open(str(Path(data_root) / image)).ReadAsArray(
            buf_xsize=IMAGE_PX, buf_ysize=IMAGE_PX, resample_alg=gdal.GRIORA_Average)
        window = np.s_[row * IMAGE_PX:(row + 1) * IMAGE_PX, col * IMAGE_PX:(col + 1) * IMAGE_PX]
        pixels[(slice(None),) + window] = block[:3]
        truth[window] = positive
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    write_geotiff(path, pixels, (500000.0, PIXEL_M, 0.0, 5000000.0, 0.0, -PIXEL_M),
                  srs.ExportToWkt())
    return truth


def aid_mosaic_iou(model, data_root, methods, folder):
    """Pooled IoU per prompt (over its four mosaics) and their mean, for each method."""
    images = train_images(data_root)
    rng = np.random.default_rng(SEED)
    mosaics = []
    for prompt in PROMPTS:
        for positives in POSITIVE_CELLS:
            path = Path(folder) / f"aid_{prompt.replace(' ', '_')}_{positives}.tif"
            truth = write_mosaic(path, mosaic_plan(images, prompt, positives, rng), data_root)
            mosaics.append((prompt, path, truth))
    result = {}
    for name, options in methods.items():
        pairs = {prompt: [] for prompt in PROMPTS}
        for prompt, path, truth in mosaics:
            mask = mask_on_grid(model, path, raster_grid(path), prompt, **options)[0]
            pairs[prompt].append((mask, truth))
        ious = {prompt: pooled_iou(pairs[prompt]) for prompt in PROMPTS}
        result[name] = {**ious, "mean": _percent(float(np.mean(list(ious.values()))))}
    return result


def select(model, data_root, methods):
    """Both validation sets for every candidate method, and each's mean over the six IoUs."""
    with tempfile.TemporaryDirectory(prefix="terralens-mask-select-") as folder:
        aid = aid_mosaic_iou(model, data_root, methods, folder)
    s2 = sentinel2_iou(model, data_root, half="validation", methods=methods)["iou"]
    return {"aid_train_mosaics": aid, "sentinel2_validation": s2,
            "mean_of_six": {name: _percent(float(np.mean(
                [aid[name][p] for p in PROMPTS] + list(s2[name].values()))))
                for name in methods}}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training mask-select",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="models/terralens-effnet-minilm-v1")
    parser.add_argument("--data", default=str(DEFAULT_DATA_ROOT))
    parser.add_argument("--candidates", default='{"default": {}, "tiles": {"method": "tiles", '
                        '"threshold": 0.5}}', help="JSON: {name: prompt_mask options}")
    parser.add_argument("--out", help="also write the JSON here")
    return parser.parse_args(argv)


def main(argv=None):
    from terralens.plugin.core.encoders import load_model

    args = parse_args(argv)
    result = select(load_model(args.bundle), args.data, json.loads(args.candidates))
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    return 0
