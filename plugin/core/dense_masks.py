"""Dense prompt masks: overlapping tiles, a fine score grid, guided upsampling, Otsu threshold.

What each step borrows: a tile starting every cell, so every place is seen from grid²
positions (sliding-window inference, as SegEarth-OV runs CLIP); the tile's own embedding
subtracted from its dense features with a small weight (SegEarth-OV's global bias alleviation:
the value path carries what the whole tile looks like into every cell); the bundle's prompt
template on the prompt and background words; joint bilateral upsampling along the image
(`mask_grid`); Otsu's threshold on the probability map instead of a fixed 0.5.
"""


import numpy as np

from . import masks
from .mask_grid import FineGrid, joint_bilateral_upsample
from .mosaic import coarse_grid

DENSE, TILES = "dense", "tiles"
METHODS = (DENSE, TILES)

# Defaults chosen on validation sets (see the model card: Sentinel-2 water/vegetation patches and
# AID-train mosaics), never on the SpaceNet figure they are reported with.
DETAIL = 1              # a tile starts every cell: each place is seen from grid² positions
GLOBAL_BIAS = 0.3       # share of the tile embedding taken out of each cell's features
MAX_BACKGROUND_SIMILARITY = 0.45  # default background words closer to the prompt are dropped
SIGMA_SPATIAL = 1.0     # joint bilateral upsampling: spatial Gaussian, in fine cells
SIGMA_RANGE = 0.1       # ... and colour Gaussian, on the mean squared band difference
MAX_OUTPUT_SIDE = 4096  # the probability map has at most this many pixels a side
MIN_REGION_SHARE = 0.25  # regions under this share of a score cell are merged away
BLOCK_ROWS = 256        # output rows upsampled at a time (bounds memory on big rasters)


def competing_prompts(text, prompt, background=None,
                      max_similarity=MAX_BACKGROUND_SIMILARITY):
    """Background prompts for `prompt`: the user's, or the default ones not too near the prompt.

    A default background word close in meaning to the prompt (`trees` for `vegetation`) would
    take the prompt's own places from it, so a prompt that covers half the scene could vanish.

    Args:
        text: the model's `TextEncoder`.
        prompt: what to outline.
        background: the user's background prompts (kept as given, minus the prompt itself), or
            None for the defaults.
    """
    candidates = masks.background_prompts(prompt, background)
    if background is not None or not candidates:
        return candidates
    vectors = text.encode([prompt] + candidates)
    similarity = vectors[1:] @ vectors[0]
    return [word for word, value in zip(candidates, similarity) if value < max_similarity]


def dense_overlap(grid, detail=DETAIL):
    """Tile overlap (share of a tile) that starts a tile every 1/`detail` of a cell."""
    return 1.0 - 1.0 / (int(grid) * max(1, int(detail)))


def prompt_vectors(text, prompt, background, template):
    """Unit text embeddings of the prompt then the background prompts, in the bundle template."""
    template = template or "{}"
    return text.encode([template.format(word) for word in [prompt] + list(background)])


def cell_scores(dense, embeddings, vectors, logit_scale, global_bias=GLOBAL_BIAS):
    """Per cell: probability of the prompt against the background prompts.

    Args:
        dense: (tiles, dim, g, g) unit dense features.
        embeddings: (tiles, dim) unit tile embeddings.
        vectors: (1 + k, dim) unit text embeddings, the prompt first.
        logit_scale: the model's temperature.
        global_bias: weight of the tile embedding subtracted from each cell's features.

    Returns:
        (tiles, g, g) float32 in [0, 1].
    """
    features = dense - global_bias * embeddings[:, :, None, None]
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    features = features / np.maximum(norms, 1e-12)
    return masks.prompt_probability(features, vectors[0], vectors[1:], logit_scale)


def dense_probability(batches, source, step, vectors, logit_scale):
    """The prompt probability on the raster's pixels from encoded overlapping tiles.

    Args:
        batches: iterable of (windows, embeddings, dense) as `EncodedBatches(dense=True)`
            yields them, for tiles that overlap by `dense_overlap`.
        source: the `RasterSource` the tiles come from (read again as the upsampling guide).
        step: raster pixels between neighbouring tiles: the fine grid's step.
        vectors: (1 + k, dim) text embeddings, the prompt first.

    Returns:
        (probability (rows, cols) float32, NaN where nothing was scored, geotransform).
    """
    fine = FineGrid(source.width, source.height, source.geotransform, step, 1)
    for windows, embeddings, dense in batches:
        scores = cell_scores(dense, embeddings, vectors, logit_scale)
        for window, tile_scores in zip(windows, scores):
            fine.add(window, tile_scores[None])
    return upsample_to_raster(fine, source)


def upsample_to_raster(grid, source, max_side=MAX_OUTPUT_SIDE, sigma_spatial=SIGMA_SPATIAL,
                       sigma_range=SIGMA_RANGE):
    """The fine grid's values on the raster's pixels (coarser above `max_side`), along the image.

    Returns:
        (values (rows, cols) float32, NaN where nothing was scored or the raster has no data,
        geotransform).
    """
    low = grid.result()
    rows, cols, geotransform = coarse_grid(source.width, source.height, source.geotransform,
                                           max_side)
    step = (grid.step * rows / source.height, grid.step * cols / source.width)  # output pixels
    low_guide, _ = source.read_scaled(0, 0, source.width, source.height, grid.cols, grid.rows)
    out = np.empty((rows, cols), np.float32)
    for row0 in range(0, rows, BLOCK_ROWS):
        row1 = min(rows, row0 + BLOCK_ROWS)
        y0, y1 = row0 * source.height // rows, row1 * source.height // rows
        guide, valid = source.read_scaled(0, y0, source.width, y1 - y0, cols, row1 - row0)
        block = joint_bilateral_upsample(low, low_guide, guide, step, row0,
                                         sigma_spatial=sigma_spatial, sigma_range=sigma_range)[0]
        out[row0:row1] = np.where(valid, block, np.nan)  # nodata stays out of the mask
    return out, geotransform


def region_pixels(cell_px, raster_geotransform, map_geotransform, share):
    """Map pixels in `share` of a score cell of `cell_px` raster pixels a side: regions smaller
    than this are below what the scores can resolve (the map may be coarser than the raster)."""
    map_px = cell_px * abs(raster_geotransform[1]) / abs(map_geotransform[1])
    return int(share * map_px * map_px)


def otsu_threshold(values, bins=256):
    """Otsu's threshold of the finite values: the cut that best separates two groups."""
    finite = values[np.isfinite(values)]
    low, high = float(finite.min()), float(finite.max())
    counts, edges = np.histogram(finite, bins=bins, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    share = counts / counts.sum()
    below = np.cumsum(share)
    mean_below = np.cumsum(share * centres)
    between = (mean_below[-1] * below - mean_below) ** 2 / np.maximum(below * (1 - below), 1e-12)
    return float(edges[int(np.argmax(between)) + 1])


def choose_threshold(probability, threshold=None):
    """The threshold to cut `probability` at and a sentence saying how it was chosen.

    `threshold` None (or below 0) means automatic: Otsu's threshold of the map, which adapts to
    how the prompt and its background prompts score on this raster.
    """
    finite = probability[np.isfinite(probability)]
    if threshold is not None and threshold >= 0:
        return float(threshold), f"fixed threshold {threshold:g}"
    if finite.size == 0:
        return 1.0, "automatic threshold: no location was scored"
    low, high = float(finite.min()), float(finite.max())
    if high - low < 1e-6:
        return high, (f"automatic threshold: the probability is {high:.3f} everywhere, so "
                      "nothing separates the prompt from its background prompts; the whole "
                      "scored area is kept")
    value = otsu_threshold(finite)
    return value, (f"automatic threshold {value:.3f} (Otsu's threshold of the probability map, "
                   f"which runs from {low:.3f} to {high:.3f})")


def never_wins(probability, background_count):
    """A sentence when the prompt's probability stays under an even split with its background
    prompts everywhere (1 / (1 + their number)), else None: then the prompt is likely absent,
    although Otsu's threshold always divides a map in two."""
    finite = probability[np.isfinite(probability)]
    even = 1.0 / (1 + background_count)
    if finite.size == 0 or background_count == 0 or finite.max() >= even:
        return None
    return f"highest probability {finite.max():.3f}, an even split {even:.3f}"


def empty_reason(probability, threshold, rule):
    """Why a mask is empty, in words a GIS user can act on (None when it is not)."""
    finite = probability[np.isfinite(probability)]
    if finite.size == 0:
        return ("no tile of the raster was scored: check the extent, the area, nodata (tiles of "
                "one value count as nodata) and the valid-fraction setting")
    if (finite >= threshold).any():
        return None
    return (f"no location reached the {rule} (the highest probability is {finite.max():.3f}): "
            "use the automatic threshold, lower it, or change the background prompts")
