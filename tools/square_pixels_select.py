"""Longitude / latitude rasters: which square pixels to read them as (`plugin/core/square_pixels`).

The scale mosaics of `tools/scale_mosaics.py` are moved to a latitude (UTM zone 33N, on its
central meridian), warped to EPSG:4326 as a user's download would be (gdalwarp, bilinear; at
60 N its pixels come out about twice as high as wide on the ground) and labelled with default
parameters (`pipeline.label_raster`, the class names as labels), read four ways:
- `utm`: the mosaic before the warp (what the scene really is; a reference);
- `before`: the lon/lat raster cut into square tiles of its pixels (stretched on the ground);
- `mean`: read as square pixels of the geometric mean of the two sides (as many pixels);
- `finer`: read as square pixels of the shorter side (nothing shrunk).
A cell counts as right when the label covering most of it is its class (`tools/scale_bench`).

The rule, fixed before the first validation run: on the AID validation mosaics (`--sets aid-val`,
10 and 30 m, at 45 and 60 N) the side with the higher mean accuracy becomes the default, and
lon/lat rasters are read as square pixels only if that side beats `before` there. UC Merced and
RSSCN7 (`--sets ucm,rsscn7`) are measured after, and reported, never used to choose.

    PYTHONPATH=$PWD/.pkg .venv/bin/python tools/square_pixels_select.py --sets aid-val
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from osgeo import gdal, osr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from terralens.plugin.core.geometry import transform_points  # noqa: E402
from tools.scale_bench import cell_predictions, class_labels, tile_labels  # noqa: E402
from tools.scale_mosaics import OUT, ensure_mosaics, read_truth  # noqa: E402

UTM_33N, CENTRAL_LON = 32633, 15.0
WAYS = ("utm", "before", "mean", "finer")


def wkt(epsg):
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return srs.ExportToWkt()


def moved_to(mosaic, latitude, work):
    """The mosaic re-georeferenced in UTM 33N centred at (15 E, latitude), and its offset."""
    dataset = gdal.Open(str(mosaic))
    g, width, height = dataset.GetGeoTransform(), dataset.RasterXSize, dataset.RasterYSize
    (centre_x, centre_y), = transform_points([(CENTRAL_LON, latitude)], wkt(4326),
                                             wkt(UTM_33N))
    left, top = centre_x - width * g[1] / 2, centre_y + height * -g[5] / 2
    path = work / f"{mosaic.stem}_{latitude:g}n_utm.tif"
    gdal.Translate(str(path), dataset, outputSRS=f"EPSG:{UTM_33N}",
                   outputBounds=(left, top, left + width * g[1], top + height * g[5]))
    return path, (left - g[0], top - g[3])


def lonlat_copy(utm_path):
    path = utm_path.with_name(utm_path.stem.replace("_utm", "_4326") + ".tif")
    gdal.Warp(str(path), str(utm_path), dstSRS="EPSG:4326", resampleAlg="bilinear")
    return path


def shifted(truth, dx, dy):
    return [dict(r, minx=r["minx"] + dx, maxx=r["maxx"] + dx, miny=r["miny"] + dy,
                 maxy=r["maxy"] + dy) for r in truth]


def in_lonlat(truth):
    """Each cell's bounding box in EPSG:4326."""
    cells = []
    for r in truth:
        corners = [(x, y) for x in (r["minx"], r["maxx"]) for y in (r["miny"], r["maxy"])]
        xs, ys = zip(*transform_points(corners, wkt(UTM_33N), wkt(4326)))
        cells.append(dict(r, minx=min(xs), maxx=max(xs), miny=min(ys), maxy=max(ys)))
    return cells


def accuracy(truth, gpkg):
    bounds, labels = tile_labels(gpkg)
    predicted = cell_predictions(truth, bounds, labels)
    return round(100.0 * float(np.mean([p == r["label"] for p, r in zip(predicted, truth)])), 1)


def label(path, way, labels, out, model):
    """Label `path` read the `way` named; return seconds and the square-pixel record."""
    from terralens.plugin.core import pipeline, square_pixels
    from terralens.plugin.core.outputs import read_metadata
    from terralens.plugin.core.tiled_raster import TileSettings
    kept = square_pixels.SQUARED_ABOVE, square_pixels.SQUARE_SIDE
    if way == "before":
        square_pixels.SQUARED_ABOVE = float("inf")
    elif way in ("mean", "finer"):
        square_pixels.SQUARE_SIDE = way
    try:
        start = time.perf_counter()
        pipeline.label_raster(str(path), model, labels, str(out), TileSettings())
        seconds = time.perf_counter() - start
    finally:
        square_pixels.SQUARED_ABOVE, square_pixels.SQUARE_SIDE = kept
    raster = read_metadata(out).get("raster") or {}
    return seconds, raster.get("square_pixels")


def run(sets, latitudes, work, model):
    rows = []
    for (name, resolution), mosaic in sorted(ensure_mosaics(sets).items()):
        truth = read_truth(mosaic.with_name(mosaic.stem + "_truth.csv"))
        labels = class_labels(truth)
        for latitude in latitudes:
            utm, (dx, dy) = moved_to(mosaic, latitude, work)
            lonlat = lonlat_copy(utm)
            cells = {"utm": shifted(truth, dx, dy)}
            cells["lonlat"] = in_lonlat(cells["utm"])
            row = {"set": name, "resolution_m": resolution, "latitude": latitude}
            for way in WAYS:
                out = work / f"{mosaic.stem}_{latitude:g}n_{way}.gpkg"
                path, truth_cells = (utm, cells["utm"]) if way == "utm" else (lonlat,
                                                                              cells["lonlat"])
                seconds, record = label(path, way, labels, out, model)
                row[way] = accuracy(truth_cells, out)
                row[f"{way}_s"] = round(seconds, 1)
                if record and way != "utm":
                    row[f"{way}_pixels_m"] = [record["pixel_m_before"], record["pixel_m"]]
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    means = {way: round(float(np.mean([r[way] for r in rows])), 2) for way in WAYS}
    return {"rows": rows, "mean": means}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="aid-val")
    parser.add_argument("--latitudes", default="45,60")
    parser.add_argument("--out", type=Path, default=OUT / "square-pixels")
    parser.add_argument("--bundle", default=str(ROOT / "models" / "terralens-effnet-minilm-v1"))
    args = parser.parse_args(argv)
    from terralens.plugin.core.encoders import load_model
    args.out.mkdir(parents=True, exist_ok=True)
    latitudes = [float(v) for v in args.latitudes.split(",")]
    result = run(args.sets.split(","), latitudes, args.out, load_model(args.bundle))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
