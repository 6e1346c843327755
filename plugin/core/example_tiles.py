"""Which tiles of an index an example stands for: a point picks the tiles it falls in, a polygon
the tiles it covers more than half of (or, when smaller, the tiles its centroid falls in)."""

import numpy as np
from osgeo import ogr

from .geometry import polygon_from_ring, reproject_geometry

POINT_TYPES = (ogr.wkbPoint, ogr.wkbMultiPoint)
POLYGON_TYPES = (ogr.wkbPolygon, ogr.wkbMultiPolygon)


def tiles_for_example(index, geometry, min_cover=0.5):
    """Tile numbers of `index` an example geometry picks, the most central first.

    Args:
        index: a TileIndex.
        geometry: an ogr.Geometry or WKT, in the index's CRS (reproject before).
        min_cover: a polygon picks the tiles it covers more than this share of.

    Returns:
        int64 array of tile numbers (empty when the example lies outside every tile).

    Raises:
        ValueError: the geometry is empty, invalid or neither points nor polygons.
    """
    geometry = _as_geometry(geometry)
    kind = ogr.GT_Flatten(geometry.GetGeometryType())
    candidates = _tiles_touching(index, geometry.GetEnvelope())
    if kind in POINT_TYPES:
        return _tiles_holding(index, candidates, geometry)
    if kind not in POLYGON_TYPES:
        raise ValueError(f"examples must be points or polygons, not {geometry.GetGeometryName()}"
                         " geometries: draw points on example tiles or polygons around them")
    covered = [tile for tile in candidates
               if _cover(index, tile, geometry) > min_cover]
    if covered:
        centre = geometry.Centroid()
        return _closest_first(index, np.asarray(covered, np.int64), centre)
    return _tiles_holding(index, candidates, geometry.Centroid())


def _as_geometry(geometry):
    if isinstance(geometry, str):
        geometry = ogr.CreateGeometryFromWkt(geometry)
    if geometry is None or geometry.IsEmpty():
        raise ValueError("an example has an empty or unreadable geometry")
    return geometry


def tile_bounds(index, tiles=None):
    """(N, 4) minx, miny, maxx, maxy of every tile (or of `tiles`), at once (rotated rasters
    included)."""
    windows = np.asarray(index.windows if tiles is None else index.windows[tiles],
                         np.float64).reshape(-1, 4)
    gt = index.geotransform
    cols = [windows[:, 0], windows[:, 0] + windows[:, 2]]
    rows = [windows[:, 1], windows[:, 1] + windows[:, 3]]
    xs = np.stack([gt[0] + c * gt[1] + r * gt[2] for c in cols for r in rows])
    ys = np.stack([gt[3] + c * gt[4] + r * gt[5] for c in cols for r in rows])
    return np.stack([xs.min(0), ys.min(0), xs.max(0), ys.max(0)], axis=1)


def _tiles_touching(index, envelope):
    """Tiles whose bounds meet the envelope. The windows are first narrowed in pixel space
    (integer comparisons: a million tiles in milliseconds), then checked in map units."""
    minx, maxx, miny, maxy = envelope
    near = _windows_near(index, envelope)
    bounds = tile_bounds(index, near)
    inside = ((bounds[:, 0] <= maxx) & (bounds[:, 2] >= minx)
              & (bounds[:, 1] <= maxy) & (bounds[:, 3] >= miny))
    return near[inside]


def _windows_near(index, envelope):
    """Tile numbers whose windows meet the envelope's box in pixel space (one pixel of slack)."""
    minx, maxx, miny, maxy = envelope
    gt = index.geotransform
    det = gt[1] * gt[5] - gt[2] * gt[4]
    if not det:
        return np.arange(len(index))
    corners = [(x, y) for x in (minx, maxx) for y in (miny, maxy)]
    cols = [(gt[5] * (x - gt[0]) - gt[2] * (y - gt[3])) / det for x, y in corners]
    rows = [(gt[1] * (y - gt[3]) - gt[4] * (x - gt[0])) / det for x, y in corners]
    windows = index.windows
    near = ((windows[:, 0] <= max(cols) + 1) & (windows[:, 0] + windows[:, 2] >= min(cols) - 1)
            & (windows[:, 1] <= max(rows) + 1) & (windows[:, 1] + windows[:, 3] >= min(rows) - 1))
    return np.nonzero(near)[0]


def _tiles_holding(index, candidates, points):
    holding = [tile for tile in candidates
               if polygon_from_ring(index.footprint(tile)).Intersects(points)]
    return _closest_first(index, np.asarray(holding, np.int64), points.Centroid())


def _cover(index, tile, polygon):
    footprint = polygon_from_ring(index.footprint(tile))
    area = footprint.GetArea()
    return footprint.Intersection(polygon).GetArea() / area if area > 0 else 0.0


def _closest_first(index, tiles, point):
    if not len(tiles):
        return tiles
    bounds = tile_bounds(index, tiles)
    centres = np.stack([(bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2], 1)
    distance = np.hypot(centres[:, 0] - point.GetX(), centres[:, 1] - point.GetY())
    return tiles[np.argsort(distance, kind="stable")]


def locate_examples(indexes, geometries, crs_wkt=None):
    """The tiles each example picks, in the first index that holds it.

    Args:
        indexes: TileIndex objects, in order of preference.
        geometries: points or polygons (WKT or ogr geometries) in the CRS `crs_wkt`.
        crs_wkt: their CRS (None: each index's own, for rasters without a CRS).

    Returns:
        one entry an example: (index number, int64 tile numbers), or None when it lies on no
        tile of any index (outside, on skipped nodata or one-value tiles, or where no CRS can
        place it).

    Raises:
        ValueError: a geometry is empty, unreadable or neither points nor polygons.
    """
    located = []
    for geometry in geometries:
        found = None
        for number, index in enumerate(indexes):
            try:
                here = reproject_geometry(geometry, index.crs_wkt if crs_wkt is None else crs_wkt,
                                          index.crs_wkt)
            except ValueError:
                continue  # a place this raster's CRS cannot hold: another raster may
            tiles = tiles_for_example(index, here)
            if len(tiles):
                found = (number, tiles)
                break
        located.append(found)
    return located
