"""A coarse grid over a whole raster that averages per-tile maps: heat-maps and mask scores."""

import math

import numpy as np


def resize_bilinear(values, out_rows, out_cols):
    """Bilinear resize of a 2-D array (pixel centres aligned, as GDAL's bilinear does)."""
    values = np.asarray(values, np.float32)
    rows_in, cols_in = values.shape
    y = np.clip((np.arange(out_rows) + 0.5) * rows_in / out_rows - 0.5, 0, rows_in - 1)
    x = np.clip((np.arange(out_cols) + 0.5) * cols_in / out_cols - 0.5, 0, cols_in - 1)
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    y1, x1 = np.minimum(y0 + 1, rows_in - 1), np.minimum(x0 + 1, cols_in - 1)
    wy, wx = (y - y0)[:, None], (x - x0)[None, :]
    top = values[y0][:, x0] * (1 - wx) + values[y0][:, x1] * wx
    bottom = values[y1][:, x0] * (1 - wx) + values[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


class Mosaic:
    """Average of per-tile maps on a grid of `cell` x `cell` raster pixels.

    The grid's longer side is at most `max_side` cells, so memory stays bounded for any raster.
    Where tiles overlap, their values are averaged with a weight that falls towards each
    tile's border, which hides seams.
    """

    def __init__(self, width, height, geotransform, max_side=2048, min_cell=1):
        self.width, self.height = int(width), int(height)
        self.rows, self.cols, self.geotransform = coarse_grid(self.width, self.height,
                                                              geotransform, max_side, min_cell)
        self.sums = np.zeros((self.rows, self.cols), np.float32)
        self.weights = np.zeros((self.rows, self.cols), np.float32)

    def add(self, window, values):
        """Paint a tile's map (any shape, resampled to the tile) over its window."""
        rows, cols, weight, shape = self._placement(window)
        values = np.asarray(values, np.float32)
        if values.ndim == 0:
            values = np.full((1, 1), float(values), np.float32)
        tile = resize_bilinear(values, *shape)[: weight.shape[0], : weight.shape[1]]
        self.sums[rows, cols] += tile * weight
        self.weights[rows, cols] += weight

    def _placement(self, window):
        """(row slice, column slice, border weights there, the tile's full grid shape)."""
        r0, r_end = _cell_span(window.row, window.height, self.rows, self.height)
        c0, c_end = _cell_span(window.col, window.width, self.cols, self.width)
        r1, c1 = min(self.rows, r_end), min(self.cols, c_end)
        shape = (r_end - r0, c_end - c0)
        weight = _border_weight(*shape)[: r1 - r0, : c1 - c0]
        return slice(r0, r1), slice(c0, c1), weight, shape

    def result(self):
        """The averaged grid (bands first for a VectorMosaic), NaN where no tile was painted."""
        out = np.full_like(self.sums, np.nan)
        painted = self.weights > 0
        out[..., painted] = self.sums[..., painted] / self.weights[painted]
        return out


class VectorMosaic(Mosaic):
    """Like `Mosaic`, for one value a tile in each of `bands` layers (a tile's probability of
    every label), painted in one step: a grid a label would cost a call a label a tile."""

    def __init__(self, width, height, geotransform, bands, max_side=2048, min_cell=1):
        super().__init__(width, height, geotransform, max_side, min_cell)
        self.sums = np.zeros((int(bands), self.rows, self.cols), np.float32)

    def add(self, window, values):
        """Paint a tile's `bands` values over its window."""
        rows, cols, weight, _ = self._placement(window)
        self.sums[:, rows, cols] += np.asarray(values, np.float32)[:, None, None] * weight
        self.weights[rows, cols] += weight


def coarse_grid(width, height, geotransform, max_side, min_cell=1):
    """(rows, cols, geotransform) of a grid over a raster with at most `max_side` cells a side,
    each at least `min_cell` pixels. A cell is height / rows by width / cols raster pixels, so
    the grid ends exactly on the raster's edges instead of overshooting them by part of a cell."""
    cell = max(int(min_cell), math.ceil(max(width, height) / max_side))
    rows, cols = math.ceil(height / cell), math.ceil(width / cell)
    g, cell_h, cell_w = geotransform, height / rows, width / cols
    return rows, cols, (g[0], g[1] * cell_w, g[2] * cell_h, g[3], g[4] * cell_w, g[5] * cell_h)


def _cell_span(start, length, cells, pixels):
    """(first cell, cell after the last) that a span of raster pixels touches, on a grid of
    `cells` cells over `pixels` pixels; integer arithmetic, so exact for any cell size."""
    first = start * cells // pixels
    end = -(-(start + length) * cells // pixels)  # ceiling division
    return first, max(first + 1, end)


def _border_weight(rows, cols):
    """Weights in (0, 1], highest in the tile centre (a raised, never-zero tent)."""
    wy = 1.0 - np.abs((np.arange(rows) + 0.5) / rows - 0.5)
    wx = 1.0 - np.abs((np.arange(cols) + 0.5) / cols - 0.5)
    return np.outer(wy, wx).astype(np.float32)
