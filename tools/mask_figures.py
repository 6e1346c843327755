"""Before/after pictures of prompt masks on real scenes (docs/images/masks/).

    PYTHONPATH=.pkg .venv/bin/python tools/mask_figures.py --out docs/images/masks

One PNG a scene and prompt: the scene, then the probability and the mask of the method before
version 2 (tiles, threshold 0.5) and of the default (dense, automatic threshold). Masks are
red over the scene; where the scene has truth, it is outlined in yellow (SpaceNet footprints;
for Sentinel-2, NDVI > 0.5 or NDWI > 0 from band B8, which the model does not read).
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TERRALENS_SHARED_DATA", ROOT.parent / "shared" / "data"))
BUNDLE = ROOT / "models" / "terralens-effnet-minilm-v1"
# (file under the data folder, PNG name, prompt, ground sample distance, bands, truth file)
SCENES = (
    ("scenes/spacenet_atlanta_pan.tif", "spacenet-building.png", "building", None, None,
     "scenes/spacenet_atlanta_buildings.geojson"),
    ("scenes/ortho_drone_small.tif", "ortho-drone-trees.png", "trees", 0.1, None, None),
    ("scenes/satclip_s2/patch_70975.tif", "sentinel2-vegetation.png", "vegetation", 5.0,
     [4, 3, 2], "index:vegetation"),
    ("scenes/satclip_s2/patch_286743.tif", "sentinel2-water.png", "water", 5.0, [4, 3, 2],
     "index:water"),
)
PANEL = 220
METHODS = (("before: tiles, threshold 0.5", {"method": "tiles", "threshold": 0.5}),
           ("after: dense, automatic threshold", {}))


def run_mask(model, scene, prompt, gsd_m, bands, folder, options):
    """(probability on the scene's grid, mask on the scene's grid, summary)."""
    from terralens.plugin.core import pipeline
    from terralens.plugin.core.tiled_raster import TileSettings
    from training.evaluate.iou import raster_grid, rasterise_file

    out, probability = Path(folder) / "mask.gpkg", Path(folder) / "probability.tif"
    summary = pipeline.prompt_mask(scene, model, prompt, out, TileSettings(gsd_m=gsd_m,
                                                                           bands=bands),
                                   probability_path=str(probability), **options)
    grid = raster_grid(scene)
    return resample_to(probability, grid), rasterise_file(out, grid), summary


def resample_to(path, grid):
    """A single-band raster read onto `grid` (width, height, ...) by nearest neighbour."""
    from osgeo import gdal

    width, height = grid[0], grid[1]
    return gdal.Open(str(path)).ReadAsArray(buf_xsize=width, buf_ysize=height).astype(
        np.float32)


def scene_rgb(scene, bands):
    """The scene as the model sees it, as 8-bit RGB (H, W, 3)."""
    from terralens.plugin.core.raster import RasterSource

    source = RasterSource(scene, bands=bands)
    pixels, _ = source.read_scaled(0, 0, source.width, source.height, source.width,
                                   source.height)
    return (np.moveaxis(pixels[:3], 0, -1) * 255).astype(np.uint8)


def heat(probability, rgb):
    """Probability 0 (dark blue) - 1 (yellow) blended over the grey scene."""
    value = np.clip(np.nan_to_num(probability, nan=0.0), 0, 1)[..., None]
    colour = np.concatenate([value, value ** 0.5 * 0.9, (1 - value) * 0.6], axis=-1) * 255
    grey = rgb.mean(axis=-1, keepdims=True)
    return (0.35 * grey + 0.65 * colour).astype(np.uint8)


def overlay(mask, rgb, truth=None):
    """The mask in red over the scene; truth outlined in yellow."""
    out = rgb.astype(np.float32).copy()
    out[mask] = 0.45 * out[mask] + 0.55 * np.array([255, 0, 0])
    if truth is not None:
        edge = truth & ~(np.roll(truth, 1, 0) & np.roll(truth, -1, 0) & np.roll(truth, 1, 1)
                         & np.roll(truth, -1, 1))
        out[edge] = (255, 230, 0)
    return out.astype(np.uint8)


def panel(array, caption):
    image = Image.fromarray(array).resize((PANEL, int(PANEL * array.shape[0] / array.shape[1])),
                                          Image.BILINEAR)
    canvas = Image.new("RGB", (image.width, image.height + 16), "white")
    canvas.paste(image, (0, 16))
    ImageDraw.Draw(canvas).text((3, 2), caption, fill="black")
    return canvas


def scene_truth(scene, data, truth_file):
    """The truth mask on the scene's grid: a footprint file, "index:NAME" or None."""
    from training.evaluate.iou import raster_grid, rasterise_file
    from training.evaluate.iou_s2 import index_truth

    if truth_file is None:
        return None
    if truth_file.startswith("index:"):
        return index_truth(scene)[truth_file.split(":", 1)[1]]
    return rasterise_file(data / truth_file, raster_grid(scene))


def figure(model, data, scene_file, name, prompt, gsd_m, bands, truth_file, out):
    scene = data / scene_file
    rgb = scene_rgb(scene, bands)
    truth = scene_truth(scene, data, truth_file)
    panels = [panel(rgb if truth is None else overlay(np.zeros_like(truth), rgb, truth),
                    f"{Path(scene_file).stem}: '{prompt}'")]
    for caption, options in METHODS:
        with tempfile.TemporaryDirectory() as folder:
            probability, mask, summary = run_mask(model, scene, prompt, gsd_m, bands, folder,
                                                  options)
        short = caption.split(":")[0]
        panels.append(panel(heat(probability, rgb), f"{short}: probability"))
        panels.append(panel(overlay(mask, rgb, truth),
                            f"{short}: mask (t={summary['threshold']:.2f})"))
    width = sum(p.width for p in panels)
    sheet = Image.new("RGB", (width, max(p.height for p in panels)), "white")
    left = 0
    for item in panels:
        sheet.paste(item, (left, 0))
        left += item.width
    # an adaptive palette keeps each PNG well under 300 kB
    sheet.convert("P", palette=Image.ADAPTIVE, colors=128).save(out / name, optimize=True)
    return out / name


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    parser.add_argument("--data", type=Path, default=SHARED)
    args = parser.parse_args(argv)
    from terralens.plugin.core.encoders import load_model

    model = load_model(args.bundle)
    args.out.mkdir(parents=True, exist_ok=True)
    for scene_file, name, prompt, gsd_m, bands, truth_file in SCENES:
        path = figure(model, args.data, scene_file, name, prompt, gsd_m, bands, truth_file,
                      args.out)
        print(path, f"{path.stat().st_size / 1024:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
