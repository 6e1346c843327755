"""Prompt-mask IoU: the plugin's `prompt_mask` on a scene, rasterised against its footprints."""

import inspect
import tempfile
import time
from pathlib import Path

import numpy as np

from .tasks import iou

SWEEP = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
SCENE = "scenes/spacenet_atlanta_pan.tif"
FOOTPRINTS = "scenes/spacenet_atlanta_buildings.geojson"


def rasterise_layer(layer, grid):
    """Boolean mask of the polygons of an OGR layer on `grid` (pixel centres inside)."""
    from osgeo import gdal

    width, height, geotransform, crs_wkt = grid
    target = gdal.GetDriverByName("MEM").Create("", width, height, 1, gdal.GDT_Byte)
    target.SetGeoTransform(geotransform)
    target.SetProjection(crs_wkt)
    gdal.RasterizeLayer(target, [1], layer, burn_values=[1])
    return target.ReadAsArray().astype(bool)


def rasterise_file(path, grid):
    """Boolean mask of every polygon of the first layer of a vector file on `grid`."""
    from osgeo import ogr

    dataset = ogr.Open(str(path))
    if dataset is None:
        raise FileNotFoundError(f"cannot open the vector file {path}")
    return rasterise_layer(dataset.GetLayer(0), grid)


def rasterise_geometries(geometries, crs_wkt, grid):
    """Boolean mask of OGR geometries (in `crs_wkt`) on `grid`."""
    from osgeo import ogr, osr

    srs = osr.SpatialReference()
    srs.ImportFromWkt(crs_wkt)
    dataset = ogr.GetDriverByName("Memory").CreateDataSource("mask")
    layer = dataset.CreateLayer("mask", srs, ogr.wkbPolygon)
    for geometry in geometries:
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(geometry)
        layer.CreateFeature(feature)
    return rasterise_layer(layer, grid)


def raster_grid(path):
    """(width, height, geotransform, crs WKT) of a raster."""
    from osgeo import gdal

    dataset = gdal.Open(str(path))
    if dataset is None:
        raise FileNotFoundError(f"GDAL cannot open the raster {path}")
    return (dataset.RasterXSize, dataset.RasterYSize, dataset.GetGeoTransform(),
            dataset.GetProjection())


def mask_on_grid(model, scene, grid, prompt, **options):
    """Run `pipeline.prompt_mask` on `scene`: (mask on `grid`, summary, probability, its grid).

    `options` go to `prompt_mask` as they are (none: the plugin's defaults).
    """
    from osgeo import gdal

    from terralens.plugin.core import pipeline

    with tempfile.TemporaryDirectory(prefix="terralens-eval-") as folder:
        out, probability_path = Path(folder) / "mask.gpkg", Path(folder) / "probability.tif"
        summary = pipeline.prompt_mask(scene, model, prompt, out,
                                       probability_path=str(probability_path), **options)
        predicted = rasterise_file(out, grid)
        dataset = gdal.Open(str(probability_path))
        probability = dataset.ReadAsArray().astype(np.float32)
        mosaic_grid = (dataset.GetGeoTransform(), dataset.GetProjection())
        dataset = None
    return predicted, summary, probability, mosaic_grid


def prompt_mask_iou(model, data_root, prompt="building", thresholds=SWEEP):
    """IoU (percent) of the `prompt` mask of the SpaceNet Atlanta tile against its footprints.

    The headline figure comes from the polygons `prompt_mask` writes with its default
    parameters; beside it, the method before version 2 ("tiles", threshold 0.5). The sweep
    re-polygonises the default run's probability raster at each threshold (no re-encoding):
    its best is an oracle (the threshold is chosen on these very footprints).
    """
    from terralens.plugin.core import pipeline

    scene, footprints = Path(data_root) / SCENE, Path(data_root) / FOOTPRINTS
    grid = raster_grid(scene)
    truth = rasterise_file(footprints, grid)
    defaults = inspect.signature(pipeline.prompt_mask).parameters
    started = time.perf_counter()
    predicted, summary, probability, mosaic_grid = mask_on_grid(model, scene, grid, prompt)
    seconds = time.perf_counter() - started
    old, old_summary, _, _ = mask_on_grid(model, scene, grid, prompt, method="tiles",
                                          threshold=0.5)
    sweep = threshold_sweep(probability, mosaic_grid, grid, truth, thresholds,
                            defaults["min_area"].default, defaults["simplify"].default)
    scored = [(value, key) for key, value in sweep.items() if value is not None]
    best = max(scored) if scored else (None, None)
    tiles = summary.get("tiles_encoded", 0)
    return {
        "scene": SCENE, "footprints": FOOTPRINTS, "prompt": prompt,
        "method": defaults["method"].default, "pixels": int(truth.size),
        "footprint_pixels": int(truth.sum()), "mask_pixels": int(predicted.sum()),
        "polygons": summary.get("polygons"), "threshold": summary.get("threshold"),
        "threshold_rule": summary.get("threshold_rule"),
        "iou": _percent(iou(predicted, truth)),
        "before": {"method": "tiles", "threshold": 0.5, "iou": _percent(iou(old, truth)),
                   "mask_pixels": int(old.sum()), "tiles": old_summary.get("tiles_encoded")},
        "sweep": sweep,
        "oracle_best": {"threshold": None if best[1] is None else float(best[1]),
                        "iou": best[0],
                        "note": "oracle: threshold picked on these footprints; not a fair "
                                "figure, report beside the default-threshold IoU only"},
        "tiles": tiles, "prompt_mask_seconds": round(seconds, 2),
        "prompt_mask_pixels_per_second": round(truth.size / seconds) if seconds > 0 else None,
    }


def threshold_sweep(probability, mosaic_grid, grid, truth, thresholds, min_area, simplify):
    """{threshold: IoU percent} of the polygons `masks.polygonize` makes at each threshold."""
    from terralens.plugin.core import masks

    sweep = {}
    for value in thresholds:
        polygons = masks.polygonize(probability, *mosaic_grid, value, min_area, simplify)
        mask = rasterise_geometries([geometry for geometry, _, _ in polygons], grid[3], grid)
        sweep[f"{value:g}"] = _percent(iou(mask, truth))
    return sweep


def _percent(value):
    """A percentage for JSON: NaN (empty masks) becomes None."""
    return None if value != value else round(value, 2)
