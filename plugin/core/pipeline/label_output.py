"""What labelling jobs write: label and score fields of a tile, and the class raster."""

import math

import numpy as np
from osgeo import gdal

from ..mosaic import VectorMosaic
from ..outputs import write_geotiff

# A class raster keeps one probability grid a label; together they hold at most this many
# cells (two float32 arrays each: 128 MB), whatever the number of labels.
CLASS_RASTER_CELLS = 2 ** 24


def label_fields(top_k):
    """Fields of a labelled tile: label and score, then label_2, score_2 ... up to `top_k`."""
    fields = [("label", "str"), ("score", "float")]
    for rank in range(2, top_k + 1):
        fields += [(f"label_{rank}", "str"), (f"score_{rank}", "float")]
    return fields


def label_values(pairs):
    """Field values of a tile from its best (label, score) pairs, best first."""
    values = {"label": pairs[0][0], "score": pairs[0][1]}
    for rank, (label, score) in enumerate(pairs[1:], start=2):
        values[f"label_{rank}"], values[f"score_{rank}"] = label, score
    return values


def probability_mosaic(width, height, geotransform, tile_px, label_count):
    """A coarse probability grid of every label: at most 1024 cells a side, and fewer with
    many labels so that all of them together hold at most CLASS_RASTER_CELLS cells; add a
    tile's probabilities with `.add(window, probabilities)`."""
    side = max(16, min(1024, int(math.sqrt(CLASS_RASTER_CELLS / max(1, label_count)))))
    return VectorMosaic(width, height, geotransform, label_count, max_side=side,
                        min_cell=max(1, tile_px // 8))


def write_class_raster(path, mosaic, labels, crs_wkt, record):
    """1 + index of the most probable label, 0 where no tile was scored (Byte, or UInt16 for
    more than 255 labels)."""
    stack = mosaic.result()
    scored = ~np.isnan(stack[0])
    classes = np.where(scored, np.nanargmax(np.nan_to_num(stack, nan=-1.0), axis=0) + 1, 0)
    dtype = np.uint8 if len(labels) <= 255 else np.uint16
    write_geotiff(path, classes.astype(dtype), mosaic.geotransform, crs_wkt, nodata=0,
                  metadata={**record, "classes": {str(i + 1): n for i, n in enumerate(labels)}},
                  category_names=["no data"] + list(labels), band_description="best label")


def class_values_present(path):
    """The class numbers a class raster holds (0, no data, left out)."""
    dataset = gdal.Open(str(path))
    values = set() if dataset is None else {int(v) for v in np.unique(dataset.ReadAsArray())}
    return values - {0}
