"""Rasters whose pixels are not square on the ground, read as square ones through a GDAL VRT.

A longitude / latitude grid has pixels of equal degrees, which on the ground are narrower than
high away from the equator (half as wide at 60 degrees north). Cut into square tiles of pixels
they would show the model every scene squashed. Such a raster is read through a warped VRT in
its own CRS whose pixels are square on the ground at the raster's centre, with the side of its
pixels' shorter side (same extent; the longer axis enlarged, nothing shrunk; near the poles a
larger side, see MAX_PIXEL_FACTOR), so outputs stay in the raster's CRS and line up with it.
Nothing is written to disk.
"""

import math

from osgeo import gdal

from .common_grid import bounds
from .raster import dataset_pixel_size_m

# Pixels at least this much longer one way than the other on the ground are made square: below
# it the squash is smaller than the random crops the model was trained with.
SQUARED_ABOVE = 1.05
# The side of the square pixels: "finer", the shorter side (the longer axis is enlarged and
# nothing the raster shows is lost), or "mean", the geometric mean (as many pixels as before;
# one axis enlarged, the other shrunk). "finer" was chosen on AID validation mosaics warped to
# longitude / latitude at 45 and 60 N: 63.1 % of cells right against 55.4 for "mean" and 60.4
# for square tiles of degrees (`tools/square_pixels_select.py`, docs/measurements.md "Scale").
FINER, MEAN = "finer", "mean"
SQUARE_SIDE = FINER
# "finer" multiplies the pixels to read by the long side over the short one: 2 at 60 degrees
# of latitude, 57 at 89. Past this factor (about 76 degrees) the square side grows instead, so
# that a polar raster costs at most this many times its own pixels (the short axis is then
# shrunk a little). A bound on time and memory, not a figure tuned on any data.
MAX_PIXEL_FACTOR = 4.0


def squared_view(dataset, side=None):
    """`(dataset, record)`: a VRT of `dataset` with square ground pixels and a record of the
    change for logs and metadata, or `(dataset, None)` when its pixels are square enough or
    it cannot be resampled safely (see `why_not_squared`).

    Args:
        dataset: an opened GDAL dataset.
        side: FINER or MEAN (None: SQUARE_SIDE).
    """
    width_m, height_m = dataset_pixel_size_m(dataset)
    if why_not_squared(dataset, width_m, height_m) is not None:
        return dataset, None
    side = side or SQUARE_SIDE
    if side not in (FINER, MEAN):
        raise ValueError(f"side must be {FINER!r} or {MEAN!r}, got {side!r}")
    side_m = min(width_m, height_m) if side == FINER else math.sqrt(width_m * height_m)
    side_m = max(side_m, math.sqrt(width_m * height_m / MAX_PIXEL_FACTOR))
    columns = max(1, round(dataset.RasterXSize * width_m / side_m))
    rows = max(1, round(dataset.RasterYSize * height_m / side_m))
    options = gdal.WarpOptions(format="VRT", width=columns, height=rows,
                               outputBounds=bounds(dataset), resampleAlg="bilinear",
                               multithread=False)
    view = gdal.Warp("", dataset, options=options)
    if view is None:
        return dataset, None
    record = {"pixel_m_before": [round(width_m, 4), round(height_m, 4)],
              "pixel_m": round(side_m, 4),
              "size_before": [dataset.RasterXSize, dataset.RasterYSize],
              "size": [columns, rows]}
    return view, record


def why_not_squared(dataset, width_m, height_m):
    """None when the dataset can and should be read through a squared view, else the reason."""
    if min(width_m, height_m) <= 0:
        return "its pixel size is unknown"
    if max(width_m, height_m) / min(width_m, height_m) < SQUARED_ABOVE:
        return "its pixels are square enough"
    g = dataset.GetGeoTransform(can_return_null=True)
    if g is None or g[2] or g[4]:
        return "it has no north-up geotransform"
    # A mask shared by all bands (a .msk file or a GeoTIFF's internal mask) that is not an
    # alpha band would be lost by the warp (pixels under it would read as valid), so such a
    # raster is left as it is.
    flags = dataset.GetRasterBand(1).GetMaskFlags()
    if flags & gdal.GMF_PER_DATASET and not flags & gdal.GMF_ALPHA:
        return "it has a mask shared by its bands (a .msk file or an internal mask)"
    return None


def describe(record):
    """A log line for a squared view's record."""
    before_w, before_h = record["pixel_m_before"]
    return (f"the raster's pixels cover {before_w:.3g} x {before_h:.3g} m of ground (not "
            f"square), so tiles are read from it resampled to square pixels of "
            f"{record['pixel_m']:.3g} m in its own CRS ({record['size_before'][0]} x "
            f"{record['size_before'][1]} pixels read as {record['size'][0]} x "
            f"{record['size'][1]}); outputs keep its CRS")


def back_to_raster_grid(array, geotransform, record):
    """A float32 map made on a squared view's grid (or a coarser grid over the same extent),
    resampled (bilinear, NaN kept as nodata) to the raster's own pixel shape, so that it can be
    laid pixel for pixel over the raster: `(array, geotransform)`."""
    rows, columns = array.shape
    width = max(1, round(columns * record["size_before"][0] / record["size"][0]))
    height = max(1, round(rows * record["size_before"][1] / record["size"][1]))
    memory = gdal.GetDriverByName("MEM")
    source = memory.Create("", columns, rows, 1, gdal.GDT_Float32)
    source.SetGeoTransform(geotransform)
    source.GetRasterBand(1).WriteArray(array.astype("float32"))
    source.GetRasterBand(1).SetNoDataValue(float("nan"))
    options = gdal.WarpOptions(format="MEM", width=width, height=height,
                               outputBounds=bounds(source), resampleAlg="bilinear",
                               srcNodata=float("nan"),
                               dstNodata=float("nan"), multithread=False)
    target = gdal.Warp("", source, options=options)
    return target.GetRasterBand(1).ReadAsArray(), target.GetGeoTransform()
