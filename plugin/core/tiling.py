"""Tile grids over a raster and their footprints in its CRS: pure arithmetic, no GDAL."""

import math
from typing import NamedTuple


class Window(NamedTuple):
    """A rectangle of raster pixels: top-left column and row, width and height in pixels."""

    col: int
    row: int
    width: int
    height: int


def tile_starts(length, size, stride):
    """Start offsets of tiles of `size` every `stride` pixels along an axis of `length` pixels.

    torchgeo's rule, `ceil((length - size) / stride) + 1` tiles, so the last partial tile is
    kept; it is shifted back to end exactly at the edge instead of running past it. An axis
    shorter than a tile gets one tile at 0 (it runs past the edge and is padded when read).
    """
    if length <= size:
        return [0]
    count = math.ceil((length - size) / stride) + 1
    starts = [i * stride for i in range(count)]
    starts[-1] = length - size
    return starts


def tile_windows(width, height, tile_px, overlap_px=0):
    """Windows of `tile_px` x `tile_px` raster pixels covering a `width` x `height` raster.

    Neighbouring windows share `overlap_px` pixels (more where the last row or column is
    shifted back to the edge). Every window has the full tile size, so one that covers a
    raster smaller than a tile extends past its right or bottom edge. Windows run row by row.

    Raises:
        ValueError: sizes that cannot make a grid (zero-size raster, overlap >= tile).
    """
    width, height, tile_px, overlap_px = int(width), int(height), int(tile_px), int(overlap_px)
    if width <= 0 or height <= 0:
        raise ValueError(f"raster size must be positive, got {width} x {height} pixels")
    if tile_px <= 0:
        raise ValueError(f"tile size must be at least 1 pixel, got {tile_px}")
    if not 0 <= overlap_px < tile_px:
        raise ValueError(f"overlap must be at least 0 and smaller than the tile size "
                         f"({tile_px} px), got {overlap_px}")
    stride = tile_px - overlap_px
    cols = tile_starts(width, tile_px, stride)
    rows = tile_starts(height, tile_px, stride)
    return [Window(col, row, tile_px, tile_px) for row in rows for col in cols]


def pixel_to_map(geotransform, col, row):
    """Map coordinates (x, y) of a pixel-grid position (fractional, pixel corners at integers)."""
    g = geotransform
    return (g[0] + col * g[1] + row * g[2], g[3] + col * g[4] + row * g[5])


def pixel_size_xy_m(geotransform, width, height, metres_per_unit=1.0, degrees_per_unit=None):
    """Pixel width and height in metres, from a geotransform in projected or angular units.

    With `degrees_per_unit` (a geographic CRS) the size is approximated at the raster's centre
    latitude on the WGS84 ellipsoid; otherwise map units times `metres_per_unit`.
    """
    g = geotransform
    size_x, size_y = math.hypot(g[1], g[4]), math.hypot(g[2], g[5])
    if degrees_per_unit is None:
        return size_x * metres_per_unit, size_y * metres_per_unit
    _, centre_y = pixel_to_map(geotransform, width / 2, height / 2)
    phi = math.radians(max(-89.9, min(89.9, centre_y * degrees_per_unit)))
    # Length of one degree (series accurate to about a metre).
    lat_m = 111132.92 - 559.82 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
    lon_m = 111412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi)
    return size_x * degrees_per_unit * lon_m, size_y * degrees_per_unit * lat_m


def place_window(window, out_size, width, height):
    """Where a window meets a `width` x `height` raster, and where that part lands in its tile.

    Returns `((x0, y0, x1, y1), (dx0, dy0, dx1, dy1))`: the raster pixels to read and the
    span of the `out_size` x `out_size` tile they fill (at least one tile pixel), or None when
    the window misses the raster. The rest of the tile is padding.
    """
    x0, y0 = max(window.col, 0), max(window.row, 0)
    x1, y1 = min(window.col + window.width, width), min(window.row + window.height, height)
    if x1 <= x0 or y1 <= y0:
        return None
    dx0, dx1 = _tile_span(x0 - window.col, x1 - window.col, out_size / window.width, out_size)
    dy0, dy1 = _tile_span(y0 - window.row, y1 - window.row, out_size / window.height, out_size)
    return (x0, y0, x1, y1), (dx0, dy0, dx1, dy1)


def _tile_span(start, stop, scale, size):
    begin = min(int(round(start * scale)), size - 1)
    return begin, max(begin + 1, min(int(round(stop * scale)), size))


def window_footprint(window, geotransform, width=None, height=None):
    """The window's four corners in the raster CRS, clockwise from the top-left corner.

    Rotated or sheared geotransforms give the true (non-axis-aligned) quadrilateral. With the
    raster's `width` and `height`, the part of a window past the raster's edge (a raster
    smaller than a tile) is left out: a footprint shows where the image is.
    """
    left, top = window.col, window.row
    right, bottom = left + window.width, top + window.height
    if width is not None and height is not None:
        left, top = max(left, 0), max(top, 0)
        right, bottom = max(left, min(right, int(width))), max(top, min(bottom, int(height)))
    corners = ((left, top), (right, top), (right, bottom), (left, bottom))
    return [pixel_to_map(geotransform, col, row) for col, row in corners]


def window_bounds(window, geotransform):
    """(minx, miny, maxx, maxy) of the window's footprint in the raster CRS."""
    xs, ys = zip(*window_footprint(window, geotransform))
    return (min(xs), min(ys), max(xs), max(ys))


def extent_pixel_box(geotransform, extent, margin=0):
    """(col0, row0, col1, row1) of the raster pixels under a map `extent`, `margin` pixels wider.

    The corners of the extent are mapped back through the geotransform, so the box also holds
    the extent of a rotated raster.
    """
    g = geotransform
    det = g[1] * g[5] - g[2] * g[4]
    if det == 0:
        raise ValueError(f"the geotransform {tuple(g)} cannot be inverted")
    minx, miny, maxx, maxy = extent
    cols, rows = [], []
    for x, y in ((minx, miny), (minx, maxy), (maxx, miny), (maxx, maxy)):
        cols.append((g[5] * (x - g[0]) - g[2] * (y - g[3])) / det)
        rows.append((g[1] * (y - g[3]) - g[4] * (x - g[0])) / det)
    return (math.floor(min(cols)) - margin, math.floor(min(rows)) - margin,
            math.ceil(max(cols)) + margin, math.ceil(max(rows)) + margin)


def windows_in_extent(windows, geotransform, extent):
    """The windows whose bounds overlap `extent` (minx, miny, maxx, maxy) by a positive area.

    Raises:
        ValueError: an extent whose minimum exceeds its maximum.
    """
    minx, miny, maxx, maxy = extent
    if minx > maxx or miny > maxy:
        raise ValueError(f"extent must be (minx, miny, maxx, maxy) with min <= max, got {extent}")
    kept = []
    for window in windows:
        wminx, wminy, wmaxx, wmaxy = window_bounds(window, geotransform)
        if wminx < maxx and wmaxx > minx and wminy < maxy and wmaxy > miny:
            kept.append(window)
    return kept
