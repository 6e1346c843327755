"""Benchmark: labelling tiles/s for a raster in UTM, in longitude / latitude with square ground
pixels, and in longitude / latitude with pixels twice as high as wide (read through the
square-pixel virtual raster of `plugin/core/square_pixels.py`). Part of `make bench`.

    PYTHONPATH=$PWD/.pkg .venv/bin/python tools/bench_square_pixels.py
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["forest", "water", "city"]
# The same 5 m pixels three ways: UTM 33N at 60 N; degrees that are square on the ground there
# (a degree of longitude is half as long as one of latitude); equal degrees, 2.5 x 5 m.
RASTERS = {"utm": (32633, (400000.0, 5.0, 0.0, 6650000.0, 0.0, -5.0)),
           "lonlat_square": (4326, (15.0, 9e-5, 0.0, 60.1, 0.0, -4.5e-5)),
           "lonlat_stretched": (4326, (15.0, 4.5e-5, 0.0, 60.1, 0.0, -4.5e-5))}


def write_raster(path, side, epsg, geotransform):
    """An RGB GeoTIFF of random 20-pixel blocks (tiled, compressed, as rasters usually are)."""
    from osgeo import gdal, osr

    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 255, (3, side // 20, side // 20))
    data = np.kron(blocks, np.ones((1, 20, 20))).astype(np.uint8)
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), side, side, 3, gdal.GDT_Byte,
                                                   ["TILED=YES", "COMPRESS=DEFLATE"])
    dataset.SetGeoTransform(geotransform)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    dataset.SetProjection(srs.ExportToWkt())
    for band in range(3):
        dataset.GetRasterBand(band + 1).WriteArray(data[band])
    dataset = None


def report(model, side=4000):
    """Tiles/s of `label_raster` (one view, no refinement) on each raster, JSON-ready."""
    from terralens.plugin.core import pipeline
    from terralens.plugin.core.tiled_raster import TileSettings

    result = {"raster": f"{side} x {side} px RGB, random 20-px blocks, 5 m, one view, "
                        "refinement off, GeoPackage written"}
    with tempfile.TemporaryDirectory() as folder:
        for name, (epsg, geotransform) in RASTERS.items():
            path = Path(folder) / f"{name}.tif"
            write_raster(path, side, epsg, geotransform)
            start = time.perf_counter()
            summary = pipeline.label_raster(str(path), model, LABELS, Path(folder) / "l.gpkg",
                                            TileSettings(views=1), refine=False)
            seconds = time.perf_counter() - start
            tiles = summary["tiles_encoded"]
            result[name] = {"tiles": tiles, "seconds": round(seconds, 1),
                            "tiles_per_s": round(tiles / seconds, 1)}
    return result


def main():
    sys.path.insert(0, str(ROOT))
    from terralens.plugin.core.encoders import load_model

    model = load_model(ROOT / "models" / "terralens-effnet-minilm-v1")
    print(json.dumps(report(model), indent=2))


if __name__ == "__main__":
    main()
