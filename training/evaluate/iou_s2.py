"""Prompt-mask IoU on Sentinel-2: water and vegetation truth from bands the model never reads.

The model reads only B4, B3, B2 (true colour, the RGB encoder); the truth comes from the
near-infrared band B8: water where NDWI = (B3 - B8) / (B3 + B8) > 0 (McFeeters), vegetation
where NDVI = (B8 - B4) / (B8 + B4) > 0.5. What it can show: whether a mask finds broad land
cover at 10 m, including prompts that cover a whole patch. What it cannot: object outlines
(10 m pixels), thin features, or the model's own accuracy on what it was trained for (0.5-8 m
aerial scenes); the indices themselves err (cloud shadow, turbid water, sparse crops).

The 20 SatCLIP patches are split once, by hand, so both halves hold water, vegetation and
neither: mask defaults were chosen on VALIDATION only; TEST is the reported figure.
"""

from pathlib import Path

import numpy as np

from .iou import _percent, mask_on_grid, raster_grid

FOLDER = "scenes/satclip_s2"
VALIDATION = ("25630", "286743", "57755", "61808", "252161", "322265", "526850", "58000",
              "759128", "770287")
TEST = ("74721", "752389", "502692", "511198", "70975", "275979", "566084", "70541", "75123",
        "766272")
PROMPTS = {"water": "water", "vegetation": "vegetation"}  # truth name: prompt
GSD_M = 5.0  # model pixels of 5 m: the 10 m patches enlarged 2x (the validation's scale)
RGB_BANDS = [4, 3, 2]  # B4, B3, B2 (band 1 is B1)
NDVI_VEGETATION = 0.5


def index_truth(path):
    """{"water": NDWI > 0, "vegetation": NDVI > 0.5} of a 12-band L2A patch (band 8 is B8)."""
    from osgeo import gdal

    bands = gdal.Open(str(path)).ReadAsArray().astype(np.float32)
    green, red, nir = bands[2], bands[3], bands[7]
    ndwi = (green - nir) / np.maximum(green + nir, 1e-6)
    ndvi = (nir - red) / np.maximum(nir + red, 1e-6)
    return {"water": ndwi > 0, "vegetation": ndvi > NDVI_VEGETATION}


def pooled_iou(pairs):
    """IoU (percent) of all (predicted, truth) pixels of several rasters taken together."""
    intersection = sum(int((p & t).sum()) for p, t in pairs)
    union = sum(int((p | t).sum()) for p, t in pairs)
    return _percent(100.0 * intersection / union if union else float("nan"))


def sentinel2_iou(model, data_root, half="test", methods=None, limit=None):
    """Pooled IoU per prompt over one half of the patches, for each method.

    Args:
        half: "test" (reported) or "validation" (where defaults were chosen).
        methods: {name: prompt_mask options}; default: the plugin's defaults ("default") and
            the method before version 2 ("before": tiles, threshold 0.5).
        limit: use only the first `limit` patches of the half (quick checks).
    """
    from terralens.plugin.core.tiled_raster import TileSettings

    patches = (TEST if half == "test" else VALIDATION)[:limit]
    methods = methods or {"default": {}, "before": {"method": "tiles", "threshold": 0.5}}
    settings = TileSettings(gsd_m=GSD_M, bands=RGB_BANDS)
    pairs = {(name, truth): [] for name in methods for truth in PROMPTS}
    for patch in patches:
        path = Path(data_root) / FOLDER / f"patch_{patch}.tif"
        grid, truths = raster_grid(path), index_truth(path)
        for truth, prompt in PROMPTS.items():
            for name, options in methods.items():
                mask = mask_on_grid(model, path, grid, prompt, settings=settings, **options)[0]
                pairs[(name, truth)].append((mask, truths[truth]))
    return {
        "half": half, "patches": list(patches), "gsd_m": GSD_M, "bands": "B4, B3, B2",
        "truth": "water: NDWI (B3, B8) > 0; vegetation: NDVI (B4, B8) > 0.5",
        "prompts": PROMPTS,
        "iou": {name: {truth: pooled_iou(pairs[(name, truth)]) for truth in PROMPTS}
                for name in methods},
        "truth_share": {truth: round(float(np.mean([t.mean() for _, t in
                                                    pairs[(next(iter(methods)), truth)]])), 3)
                        for truth in PROMPTS},
    }
