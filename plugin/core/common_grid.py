"""Two rasters of one place on one pixel grid: their overlap in the first one's CRS, and the
second warped onto the first's grid as a GDAL VRT (lazy: only the tiles read are resampled)."""

import hashlib
import json
import os
from pathlib import Path

from osgeo import gdal

from .atomic import atomic_path
from .geometry import same_crs, transform_points
from .tiling import pixel_to_map

EDGE_POINTS = 21  # points a raster edge is cut into before reprojection (edges bend)


def bounds(dataset):
    """(minx, miny, maxx, maxy) of a raster in its own CRS."""
    corners = [pixel_to_map(dataset.GetGeoTransform(), col, row)
               for col in (0, dataset.RasterXSize) for row in (0, dataset.RasterYSize)]
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    return min(xs), min(ys), max(xs), max(ys)


def footprint_in(dataset, target_wkt):
    """The bounding box of a raster's outline in the CRS `target_wkt` (edges densified)."""
    gt, width, height = dataset.GetGeoTransform(), dataset.RasterXSize, dataset.RasterYSize
    steps = [i / (EDGE_POINTS - 1) for i in range(EDGE_POINTS)]
    outline = ([(s * width, 0) for s in steps] + [(s * width, height) for s in steps]
               + [(0, s * height) for s in steps] + [(width, s * height) for s in steps])
    points = transform_points([pixel_to_map(gt, c, r) for c, r in outline],
                              dataset.GetProjection(), target_wkt)
    points = [(x, y) for x, y in points if abs(x) < float("inf") and abs(y) < float("inf")]
    if not points:
        raise ValueError("the second raster cannot be placed in the first one's CRS")
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return min(xs), min(ys), max(xs), max(ys)


def overlap(first, second):
    """The overlap of two rasters as (minx, miny, maxx, maxy) in the first one's CRS.

    Raises:
        ValueError: one raster has no CRS while the other has, or they do not overlap.
    """
    if not first.GetProjection() and not second.GetProjection():
        other = bounds(second)  # neither has a CRS: both in the same (unknown) map units
    else:
        other = footprint_in(second, first.GetProjection())
    own = bounds(first)
    box = (max(own[0], other[0]), max(own[1], other[1]),
           min(own[2], other[2]), min(own[3], other[3]))
    if box[0] >= box[2] or box[1] >= box[3]:
        raise ValueError("the two rasters do not overlap: they must show the same place (the "
                         f"first covers {_box_text(own)}, the second {_box_text(other)} in the "
                         "first one's CRS)")
    return box


def _box_text(box):
    return (f"x {_coordinate(box[0])} to {_coordinate(box[2])}, "
            f"y {_coordinate(box[1])} to {_coordinate(box[3])}")


def _coordinate(value):
    """A map coordinate as a reader writes it: 3740620 or 12.3456, never 3.74062e+06."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.6g}"


def on_same_grid(first, second):
    """Whether two rasters share CRS, geotransform and size (nothing to warp)."""
    return (first.RasterXSize == second.RasterXSize and first.RasterYSize == second.RasterYSize
            and _close(first.GetGeoTransform(), second.GetGeoTransform())
            and same_crs(first.GetProjection(), second.GetProjection()))


def _close(first, second):
    pixel = max(abs(first[1]), abs(first[5]), 1e-12)
    return all(abs(a - b) <= 1e-6 * pixel for a, b in zip(first, second))


def warped_onto(source_path, grid, folder, resample="bilinear"):
    """A VRT of `source_path` resampled onto the grid of the dataset `grid`, kept in `folder`.

    Its name comes from the source file (path, size, time) and the grid, so the same pair of
    rasters gets the same VRT again and the tile index built on it is reused. Pixels outside
    the source are transparent (an alpha band), so tiles there count as nodata.
    """
    gt = grid.GetGeoTransform()
    if gt[2] or gt[4]:
        raise ValueError("the first raster is rotated (its geotransform has rotation terms): "
                         "warp it north-up first (Raster > Projections > Warp)")
    source_path = os.path.abspath(source_path) if not str(source_path).startswith("/vsi") \
        else str(source_path)
    stat = os.stat(source_path) if os.path.exists(source_path) else None
    key = json.dumps([source_path, stat.st_size if stat else 0, stat.st_mtime if stat else 0,
                      list(gt), grid.RasterXSize, grid.RasterYSize, grid.GetProjection(),
                      resample])
    path = Path(folder) / (f"{Path(source_path).stem[:40]}-on-"
                           f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.vrt")
    if path.is_file():
        return path
    minx, miny, maxx, maxy = bounds(grid)
    with atomic_path(path) as tmp:
        options = gdal.WarpOptions(
            format="VRT", outputBounds=(minx, miny, maxx, maxy), width=grid.RasterXSize,
            height=grid.RasterYSize, dstSRS=grid.GetProjection() or None, resampleAlg=resample,
            dstAlpha=True, multithread=False)
        dataset = gdal.Warp(str(tmp), source_path, options=options)
        if dataset is None:
            raise ValueError(f"GDAL cannot warp {source_path} onto the first raster's grid: "
                             f"{gdal.GetLastErrorMsg()}")
        dataset = None  # written on close
    return path

