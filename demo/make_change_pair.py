"""Build demo/data/ucm_mosaic_after.tif: the demo mosaic "at a later date", for change detection.

Five of the 25 cells of demo/data/ucm_mosaic.tif hold another real UC Merced scene (farmland
built over, a forest cleared for houses, ...); the rest is the same photograph. The copy is
reprojected to longitude/latitude (EPSG:4326) at about 0.4 m a pixel, as a second image from
another source would come. Also writes demo/data/ucm_mosaic_after_truth.csv (which cells
changed). Only the replaced cells differ: no season, light or sensor change (see
tools/change_pairs.py for pairs with a change of light).
"""

import csv
import sys
import tempfile
from pathlib import Path

import numpy as np
from osgeo import gdal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.change_pairs import read_rgb, warp  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
BEFORE = ROOT / "demo" / "data" / "ucm_mosaic.tif"
OUT = ROOT / "demo" / "data" / "ucm_mosaic_after.tif"
SIDE = 256
# (row, col) -> the scene that replaces it ("agricultural" at 1,2 becomes dense housing ...)
CHANGES = {
    (0, 4): "ucm/images/buildings/buildings10.webp",
    (1, 2): "ucm/images/denseresidential/denseresidential10.webp",
    (2, 1): "ucm/images/mediumresidential/mediumresidential10.webp",
    (3, 3): "ucm/images/golfcourse/golfcourse10.webp",
    (4, 0): "ucm/images/freeway/freeway10.webp",
}
DEGREES_A_PIXEL = 3.6e-6  # about 0.40 m north-south, 0.33 m east-west at 33.8 N


def main():
    source = gdal.Open(str(BEFORE))
    data = source.ReadAsArray()
    for (row, col), image in CHANGES.items():
        data[:, row * SIDE:(row + 1) * SIDE, col * SIDE:(col + 1) * SIDE] = read_rgb(
            SHARED / image, SIDE)
    with tempfile.TemporaryDirectory() as scratch:
        same_grid = Path(scratch) / "after_utm.tif"
        copy = gdal.GetDriverByName("GTiff").CreateCopy(str(same_grid), source)
        for band in range(3):
            copy.GetRasterBand(band + 1).WriteArray(data[band])
        copy = None
        warped = Path(scratch) / "after.tif"
        warp(same_grid, warped, 4326, DEGREES_A_PIXEL)
        gdal.Translate(str(OUT), str(warped), creationOptions=[
            "COMPRESS=JPEG", "JPEG_QUALITY=90", "PHOTOMETRIC=YCBCR", "TILED=YES"])
    with open(OUT.with_name("ucm_mosaic_after_truth.csv"), "w", newline="",
              encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "col", "changed", "after_image"])
        for row in range(5):
            for col in range(5):
                image = CHANGES.get((row, col), "")
                writer.writerow([row, col, int(bool(image)), image])
    print(OUT, OUT.stat().st_size // 1024, "kB", int(np.sum(len(CHANGES))), "cells changed",
          file=sys.stderr)


if __name__ == "__main__":
    main()
