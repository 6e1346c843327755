"""Dense prompt scores: cell scores of overlapping tiles on a fine grid, upsampled along the image.

A tile of the default model gives a 4 x 4 grid of dense features. Tiles that overlap by all but
a fraction of a cell see every place from several positions, so their cells, each put at its
centre, sample the scene on a grid finer than one tile's. That grid is then brought to the
raster's pixels by joint bilateral upsampling (Kopf et al. 2007, the fixed-kernel form of
FeatUp's upsampler): a pixel takes the scores of nearby cells weighted by distance and by how
alike their colours are, so mask edges follow image edges instead of the cell grid.
"""

import math

import numpy as np

# Gaps at the raster's edge (half a cell that no cell centre reaches) are filled from the
# nearest scored cells up to this many fine cells away; farther gaps (skipped tiles) stay NaN.
FILL_CELLS = 4


class FineGrid:
    """Per-cell values of overlapping tiles averaged on a grid of `step` x `step` raster pixels.

    Each cell of a tile's (channels, g, g) map is added to the fine cell holding its centre, so
    the grid keeps the detail that the shift between tiles gives. The longer side has at most
    `max_side` cells (coarser steps on huge rasters), so memory stays bounded.
    """

    def __init__(self, width, height, geotransform, step, channels, max_side=2048):
        self.width, self.height = int(width), int(height)
        self.step = max(1.0, float(step), max(self.width, self.height) / max_side)
        self.rows = math.ceil(self.height / self.step)
        self.cols = math.ceil(self.width / self.step)
        self.sums = np.zeros((channels, self.rows, self.cols), np.float64)
        self.counts = np.zeros((self.rows, self.cols), np.float64)
        g = geotransform
        self.geotransform = (g[0], g[1] * self.step, g[2] * self.step,
                             g[3], g[4] * self.step, g[5] * self.step)

    def add(self, window, values):
        """Add a tile's (channels, g, g) cell values over its `tiling.Window`."""
        values = np.asarray(values, np.float64)
        grid_rows, grid_cols = values.shape[1:]
        centre_rows = window.row + (np.arange(grid_rows) + 0.5) * window.height / grid_rows
        centre_cols = window.col + (np.arange(grid_cols) + 0.5) * window.width / grid_cols
        rows = np.floor(centre_rows / self.step).astype(int)
        cols = np.floor(centre_cols / self.step).astype(int)
        inside_r = (rows >= 0) & (rows < self.rows)
        inside_c = (cols >= 0) & (cols < self.cols)
        rr, cc = np.meshgrid(rows[inside_r], cols[inside_c], indexing="ij")
        picked = values[:, inside_r][:, :, inside_c]
        np.add.at(self.sums, (slice(None), rr, cc), picked)
        np.add.at(self.counts, (rr, cc), 1.0)

    def result(self):
        """(channels, rows, cols) float32 averages; edge gaps filled, NaN where no tile was."""
        out = np.full(self.sums.shape, np.nan, np.float32)
        have = self.counts > 0
        out[:, have] = (self.sums[:, have] / self.counts[have]).astype(np.float32)
        return fill_gaps(out, FILL_CELLS)


def fill_gaps(values, max_cells):
    """Fill NaN cells of (channels, rows, cols) with the mean of filled neighbours, ring by ring,
    at most `max_cells` rings deep."""
    values = values.copy()
    have = np.isfinite(values[0])
    for _ in range(int(max_cells)):
        if have.all():
            break
        padded = np.pad(np.where(have, values, 0.0), ((0, 0), (1, 1), (1, 1)))
        weight = np.pad(have.astype(np.float32), 1)
        rows, cols = have.shape
        total = np.zeros_like(values)
        count = np.zeros(have.shape, np.float32)
        for dy in range(3):
            for dx in range(3):
                total += padded[:, dy:dy + rows, dx:dx + cols]
                count += weight[dy:dy + rows, dx:dx + cols]
        new = ~have & (count > 0)
        values[:, new] = total[:, new] / count[new]
        have |= new
    return values


def cell_means(guide, step, rows, cols):
    """Mean guide colour (bands, rows, cols) of each fine cell of `step` guide pixels."""
    bands, height, width = guide.shape
    row_of = np.minimum((np.arange(height) / step).astype(int), rows - 1)
    col_of = np.minimum((np.arange(width) / step).astype(int), cols - 1)
    sums = np.zeros((bands, rows, cols), np.float64)
    counts = np.zeros((rows, cols), np.float64)
    cell = (row_of[:, None] * cols + col_of[None, :]).ravel()
    counts.ravel()[:] = np.bincount(cell, minlength=rows * cols)
    for band in range(bands):
        sums[band].ravel()[:] = np.bincount(cell, weights=guide[band].ravel(),
                                            minlength=rows * cols)
    return (sums / np.maximum(counts, 1)).astype(np.float32)


def joint_bilateral_upsample(low, low_guide, guide, step, row0=0, radius=2, sigma_spatial=1.0,
                             sigma_range=0.1):
    """Upsample cell values to guide pixels, weighting cells by distance and colour likeness.

    Args:
        low: (channels, rows, cols) values at the centres of cells of `step` guide pixels
            (NaN cells are ignored).
        low_guide: (bands, rows, cols) mean guide colour of each cell (`cell_means`).
        guide: (bands, height, width) guide pixels in [0, 1]: rows `row0` to `row0 + height`
            of the output (so a caller can go block by block).
        step: guide pixels a cell, or (down, across) when they differ.
        radius: cells searched on each side of a pixel's own cell.
        sigma_spatial: spatial Gaussian, in cells.
        sigma_range: colour Gaussian, on the mean squared band difference in [0, 1] units.

    Returns:
        (channels, height, width) float32; NaN where no cell in reach has a value.
    """
    bands, height, width = guide.shape
    _, rows, cols = low.shape
    step_y, step_x = (step, step) if np.isscalar(step) else step
    y = (row0 + np.arange(height) + 0.5) / step_y - 0.5
    x = (np.arange(width) + 0.5) / step_x - 0.5
    near_r, near_c = np.round(y).astype(int), np.round(x).astype(int)
    valid = np.isfinite(low[0])
    filled = np.where(valid, low, 0.0)
    total = np.zeros((low.shape[0], height, width), np.float32)
    weights = np.zeros((height, width), np.float32)
    for dy in range(-radius, radius + 1):
        cell_r = np.clip(near_r + dy, 0, rows - 1)
        spatial_r = (y - cell_r) ** 2
        for dx in range(-radius, radius + 1):
            cell_c = np.clip(near_c + dx, 0, cols - 1)
            spatial = spatial_r[:, None] + ((x - cell_c) ** 2)[None, :]
            colour = low_guide[:, cell_r][:, :, cell_c]
            distance = ((guide - colour) ** 2).mean(axis=0)
            weight = np.exp(-spatial / (2 * sigma_spatial ** 2)
                            - distance / (2 * sigma_range ** 2)).astype(np.float32)
            weight *= valid[cell_r][:, cell_c]
            total += weight * filled[:, cell_r][:, :, cell_c]
            weights += weight
    out = np.full_like(total, np.nan)
    reached = weights > 1e-12
    out[:, reached] = total[:, reached] / weights[reached]
    return out
