"""TerraLens demo: all four algorithms headless (qgis_process) on a real sample raster.

Writes the results to demo/out/ and a PNG preview of each, and prints where they are.
"""

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.headless import QgisProcess  # noqa: E402

OUT = ROOT / "demo" / "out"
MOSAIC = ROOT / "demo" / "data" / "ucm_mosaic.tif"
DEFAULT_MODEL = ROOT / "models" / "terralens-effnet-minilm-v1"
TINY_MODEL = ROOT / "tests" / "data" / "tiny-wordpiece"
UCM_LABELS = ("agricultural field, airplane, baseball diamond, beach, buildings, chaparral, "
              "dense residential area, forest, freeway, golf course, harbor, intersection, "
              "medium residential area, mobile home park, overpass, parking lot, river, runway, "
              "sparse residential area, storage tanks, tennis court")


def model_dir():
    if (DEFAULT_MODEL / "text.onnx").is_file():
        return DEFAULT_MODEL
    print("WARNING: the default model is not installed; using the tiny RANDOM test model, "
          "so the results below are meaningless", file=sys.stderr)
    return TINY_MODEL


def run_algorithms(qgis, model, cache):
    """Run the four algorithms; return (name, output file, style, label field) for previews."""
    common = [f"MODEL={model}"]  # model defaults: 128-px tiles at 0.6 m = 256 px of 0.3 m
    qgis.run("run", "terralens:zeroshotlabel", "--", f"INPUT={MOSAIC}", f"LABELS={UCM_LABELS}",
             f"OUTPUT={OUT / 'labels.gpkg'}", f"CLASS_RASTER={OUT / 'classes.tif'}", *common)
    built = qgis.run_json("run", "terralens:buildindex", "--", f"INPUT={MOSAIC}",
                          f"CACHE_DIR={cache}", "OVERLAP=50", *common)
    print(f"index: {built['results']['TILES']} tiles")
    qgis.run("run", "terralens:textsearch", "--", f"INPUT={MOSAIC}",
             "QUERY=airplanes parked beside a terminal", "K=5", f"CACHE_DIR={cache}",
             "OVERLAP=50", f"OUTPUT={OUT / 'search.gpkg'}", f"HEATMAP={OUT / 'heatmap.tif'}",
             *common)
    qgis.run("run", "terralens:promptmask", "--", f"INPUT={MOSAIC}", "PROMPT=water",
             "MIN_AREA=50", f"OUTPUT={OUT / 'mask.gpkg'}",
             f"PROBABILITY={OUT / 'mask_probability.tif'}", *common)
    return [("labels", OUT / "labels.gpkg", "labels", "label"),
            ("classes", OUT / "classes.tif", "classes", None),
            ("search", OUT / "search.gpkg", "search", "rank"),
            ("heatmap", OUT / "heatmap.tif", "heatmap", None),
            ("mask", OUT / "mask.gpkg", "mask", None),
            ("mask_probability", OUT / "mask_probability.tif", "probability", None)]


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    model = model_dir()
    with tempfile.TemporaryDirectory(prefix="terralens-demo-") as home:
        qgis = QgisProcess(home, ROOT)
        qgis.enable_plugin()
        outputs = run_algorithms(qgis, model, Path(home) / "cache")
    from demo.previews import preview, start_qgis

    app = start_qgis()
    print(f"TerraLens demo with model {model.name} on {MOSAIC.relative_to(ROOT)}:")
    for name, path, style, label in outputs:
        png = preview(MOSAIC, path, style, OUT / f"{name}.png", label)
        print(f"  {name:17s} {path.relative_to(ROOT)}  preview {png.relative_to(ROOT)}")
    app.exitQgis()


if __name__ == "__main__":
    main()
