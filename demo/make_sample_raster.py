"""Build demo/data/ucm_mosaic.tif: 25 held-out UC Merced test scenes on a 5 x 5 grid, georeferenced.

UC Merced scenes are 256 x 256 px aerial images at 0.3 m from USGS orthophotos of US cities;
their true positions are not published with the data set, so the mosaic is placed in UTM zone
16N (EPSG:32616) near Atlanta at 0.3 m a pixel: a real projection and a real ground sample
distance, but not the scenes' real location. Every scene comes from the captions' `test` split
(never used for training). Also writes demo/data/ucm_mosaic_truth.csv (row, col, class).
"""

import csv
import sys
from pathlib import Path

import numpy as np
from osgeo import gdal, osr

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "demo" / "data" / "ucm_mosaic.tif"
SIDE, GRID, GSD = 256, 5, 0.3
ORIGIN = (741000.0, 3741000.0)  # UTM 16N, near Atlanta


def test_scenes():
    """One test scene a class (21), then second scenes of four classes: 25 in a fixed order."""
    with open(SHARED / "captions_ucm.tsv", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t") if r["split"] == "test"]
    by_class = {}
    for row in rows:
        images = by_class.setdefault(row["scene_class"], [])
        if row["image"] not in images:
            images.append(row["image"])
    classes = sorted(by_class)
    chosen = [(c, sorted(by_class[c])[0]) for c in classes]
    chosen += [(c, sorted(by_class[c])[1]) for c in ("airplane", "forest", "river", "beach")]
    order = np.random.default_rng(7).permutation(len(chosen))
    return [chosen[i] for i in order]


def read_rgb(path):
    dataset = gdal.Open(str(path))
    data = dataset.ReadAsArray(buf_xsize=SIDE, buf_ysize=SIDE)
    return data[:3]


def main():
    scenes = test_scenes()
    mosaic = np.zeros((3, SIDE * GRID, SIDE * GRID), np.uint8)
    truth = []
    for number, (scene_class, image) in enumerate(scenes):
        row, col = divmod(number, GRID)
        mosaic[:, row * SIDE:(row + 1) * SIDE, col * SIDE:(col + 1) * SIDE] = read_rgb(
            SHARED / image)
        truth.append((row, col, scene_class, image))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32616)
    memory = gdal.GetDriverByName("MEM").Create("", SIDE * GRID, SIDE * GRID, 3, gdal.GDT_Byte)
    memory.SetGeoTransform((ORIGIN[0], GSD, 0, ORIGIN[1], 0, -GSD))
    memory.SetProjection(srs.ExportToWkt())
    for band in range(3):
        memory.GetRasterBand(band + 1).WriteArray(mosaic[band])
        memory.GetRasterBand(band + 1).SetColorInterpretation(gdal.GCI_RedBand + band)
    gdal.GetDriverByName("GTiff").CreateCopy(
        str(OUT), memory, options=["COMPRESS=JPEG", "JPEG_QUALITY=90", "PHOTOMETRIC=YCBCR",
                                   "TILED=YES"])
    with open(OUT.with_name("ucm_mosaic_truth.csv"), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["row", "col", "scene_class", "source_image"])
        writer.writerows(truth)
    print(OUT, OUT.stat().st_size // 1024, "kB", file=sys.stderr)


if __name__ == "__main__":
    main()
