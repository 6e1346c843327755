"""Before/after pictures of prompt masks: two bundles' probability maps side by side on a scene.

    .venv/bin/python -m training dense-head-figures --before models/terralens-effnet-minilm-v1 \\
        --after runs/dense-head/bundle --out docs/images/dense-head

Runs the plugin's own `pipeline.prompt_mask` (so it needs the QGIS-side venv with GDAL) for
each prompt on each scene, and writes one PNG a scene: rows are prompts, columns the scene,
the first bundle's probability and each later one's, overlaid on the scene in grey.
"""

import argparse
import io
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..evaluate.iou import FOOTPRINTS, raster_grid, rasterise_file

# (scene file under the data folder, PNG name, ground sample distance for the model, prompts).
SCENES = (
    ("scenes/spacenet_atlanta_pan.tif", "spacenet-atlanta.png", None,
     ("building", "trees", "road", "grass")),
    ("scenes/ortho_drone_small.tif", "ortho-drone.png", 0.1,
     ("building", "trees", "road", "grass", "bare ground")),
)
PANEL_PX = 190


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m training dense-head-figures",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="baseline bundle folder")
    parser.add_argument("--after", type=Path, required=True, action="append",
                        help="dense-head bundle folder (repeat for several columns)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    parser.add_argument("--data", type=Path, help="shared data folder (default ../shared/data)")
    return parser.parse_args(argv)


def probability_map(scene, model, prompt, gsd_m):
    """The plugin's smoothed prompt probability, resampled onto the scene's pixel grid."""
    from osgeo import gdal

    from terralens.plugin.core import pipeline
    from terralens.plugin.core.tiled_raster import TileSettings
    settings = TileSettings(gsd_m=gsd_m)
    width, height, geotransform, _ = raster_grid(scene)
    with tempfile.TemporaryDirectory(prefix="terralens-fig-") as folder:
        path = Path(folder) / "p.tif"
        # the "tiles" method the dense-head figures were made with (the plugin's default
        # before version 2), so bundles are compared on their own dense maps
        pipeline.prompt_mask(scene, model, prompt, Path(folder) / "m.gpkg", settings=settings,
                             probability_path=str(path), method="tiles", threshold=0.5)
        x0, dx, _, y0, _, dy = geotransform
        warped = gdal.Warp("", str(path), format="MEM", width=width, height=height,
                           outputBounds=(x0, y0 + dy * height, x0 + dx * width, y0),
                           resampleAlg="near")
        return np.nan_to_num(warped.ReadAsArray().astype(np.float32))


def scene_grey(scene):
    """The scene as an (H, W) float array in [0, 1] (mean of its first three bands, stretched)."""
    from osgeo import gdal
    data = gdal.Open(str(scene)).ReadAsArray().astype(np.float32)
    grey = data if data.ndim == 2 else data[:3].mean(axis=0)
    low, high = np.percentile(grey, (1, 99))
    return np.clip((grey - low) / max(high - low, 1e-6), 0, 1)


def render(path, grey, rows, titles, outline=None):
    """A PNG of rows of (prompt, before map, after map, ...) over the grey scene."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot

    scale = PANEL_PX / max(grey.shape)
    size = (grey.shape[1] * scale / 100, grey.shape[0] * scale / 100)
    columns = len(rows[0])
    figure, axes = pyplot.subplots(len(rows), columns, figsize=(
        columns * size[0] + 0.3, len(rows) * size[1] + 0.4), dpi=100, squeeze=False)
    for axis_row, (prompt, *maps) in zip(axes, rows):
        axis_row[0].imshow(grey, cmap="gray")
        if outline is not None:
            axis_row[0].contour(outline, levels=[0.5], colors="yellow", linewidths=0.6)
        for axis, probability in zip(axis_row[1:], maps):
            axis.imshow(grey, cmap="gray")
            axis.imshow(probability, cmap="inferno", vmin=0, vmax=1, alpha=0.6)
        axis_row[0].set_ylabel(prompt, fontsize=9)
    for axis, title in zip(axes[0], titles):
        axis.set_title(title, fontsize=8)
    for axis in axes.ravel():
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout(pad=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=100)
    pyplot.close(figure)
    # A 64-colour palette keeps a picture a few hundred KB (photographic panels compress badly).
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=64).save(path, optimize=True)


def main(argv=None):
    """Write one before/after PNG a scene; prints each file and its size."""
    from terralens.plugin.core.encoders import load_model

    from ..export.parity import default_data_dir
    args = parse_args(argv)
    data = args.data or default_data_dir()
    models = [load_model(folder) for folder in [args.before, *args.after]]
    args.out.mkdir(parents=True, exist_ok=True)
    titles = ["scene"] + [f"{folder.name} ({model.bundle.image.dense_grid}x grid)"
                          for folder, model in zip([args.before, *args.after], models)]
    for relative, name, gsd_m, prompts in SCENES:
        scene = data / relative
        outline = None
        if "spacenet" in relative:
            outline = rasterise_file(data / FOOTPRINTS, raster_grid(scene)).astype(np.float32)
        rows = [(prompt, *(probability_map(scene, model, prompt, gsd_m) for model in models))
                for prompt in prompts]
        render(args.out / name, scene_grey(scene), rows, titles, outline)
        print(f"{args.out / name}: {(args.out / name).stat().st_size // 1024} KB")
    return 0
