"""Ground sample distances of the datasets TerraLens trains and evaluates on: facts, no code.

The exporter derives a bundle's range of scales from them (`training/export/scale_range.py`)
and the scale benchmark resamples scenes with them (`tools/scale_mosaics.py`).
"""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetScale:
    """Original image side in pixels, (finest, coarsest) metres a pixel, where that is from."""

    name: str
    side_px: int
    gsd_m: tuple
    source: str


# RSSCN7 was sampled from Google Earth at four map scales (1:700, 1:1300, 1:2600, 1:5200), 100
# images each, in file order (b001-b100 the finest). Its pixel sizes are not published: the
# finest level was measured from car lengths (about 4.5 m) in parking scenes, the others follow
# the ratios of the map scales. Uncertain by about a third.
RSSCN7_LEVEL_GSD_M = tuple(round(0.256 * s / 700, 3) for s in (700, 1300, 2600, 5200))

DATASET_SCALES = {
    "rsicd-aid": DatasetScale("AID", 600, (0.5, 8.0),
                              "Xia et al. 2017: 600 x 600 px Google Earth scenes, about 0.5 to "
                              "8 m a pixel"),
    "ucm": DatasetScale("UC Merced", 256, (0.3, 0.3), "USGS orthophotos, 0.3 m (1 ft) a pixel"),
    "rsscn7": DatasetScale("RSSCN7", 400, (RSSCN7_LEVEL_GSD_M[0], RSSCN7_LEVEL_GSD_M[-1]),
                           "Google Earth at map scales 1:700 to 1:5200; about 0.26 to 1.9 m a "
                           "pixel, estimated from car lengths (not published)"),
}

# AID's images are stored at 150 px in ../shared/data: 4 times coarser than the originals. Their
# single pixel sizes are not published; the middle of the range (geometric) stands for them.
AID_STORED_PX = 150
AID_STORED_GSD_M = math.sqrt(0.5 * 8.0) * 600 / AID_STORED_PX


def dataset_scale(source):
    """The DatasetScale of a data source such as `rsicd-aid:train` (None when unknown)."""
    return DATASET_SCALES.get(str(source or "").split(":")[0])
