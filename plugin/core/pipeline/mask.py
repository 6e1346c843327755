"""Prompt masks: dense prompt probabilities over the raster, thresholded into polygons."""

import dataclasses

from .. import dense_masks, masks
from ..batches import EncodedBatches
from ..geometry import polygon_from_ring
from ..mosaic import Mosaic
from ..outputs import PolygonWriter, write_geotiff
from ..run_control import RunControl
from ..square_pixels import back_to_raster_grid
from ..tiled_raster import TileSettings, open_tiled
from ..tiling import Window, window_footprint
from .records import provenance


def prompt_mask(raster_path, model, prompt, out_path, settings=None, threshold=None,
                min_area=0.0, simplify=0.0, background=None, method=dense_masks.DENSE,
                detail=dense_masks.DETAIL, smooth_window=3, smooth_temperature=0.1,
                probability_path=None, control=None,
                min_region_share=dense_masks.MIN_REGION_SHARE):
    """Polygons where the prompt is more likely than background prompts.

    Args:
        threshold: probability a location needs to be in the mask; None (or below 0):
            automatic (Otsu's threshold of the raster's probability map).
        background: prompts the prompt competes with (None: the defaults that are not close
            in meaning to the prompt).
        method: "dense" (a tile starting every 1/`detail` of a cell, their cells averaged on
            a fine grid upsampled along the image) or "tiles" (the tiling of `settings`, each
            tile's grid smoothed by the Smooth-Attention-Operation: the method before
            version 2, kept for comparison).
        detail: with "dense", fine-grid cells a model cell: the grid is `detail` times finer
            and the encoding costs (grid x `detail`)² times one tiling's (16x at 1).
        smooth_window, smooth_temperature: the Smooth-Attention-Operation of "tiles".
        min_region_share: regions of the mask (and holes in it) smaller than this share of a
            score cell are merged into their surroundings (0: keep every pixel).

    Returns:
        dict with the output paths, the polygon count, the threshold and how it was chosen,
        why the mask is empty (or None) and the tile counts.
    """
    control = control or RunControl()
    if not prompt or not prompt.strip():
        raise ValueError("the prompt is empty: type what to outline, for example 'building'")
    if method not in dense_masks.METHODS:
        raise ValueError(f"method must be one of {dense_masks.METHODS}, got {method!r}")
    # one view: dense maps are per location, and a rotated tile's locations move
    one_view = dataclasses.replace(settings or TileSettings(), views=1)
    tiled = open_tiled(raster_path, model, one_view)
    if not tiled.encoder.has_dense:
        raise ValueError(f"model {model.bundle.id!r} has no dense features: choose a bundle "
                         "whose image encoder returns them for prompt masks")
    if method == dense_masks.DENSE:
        background = dense_masks.competing_prompts(model.text, prompt, background)
        vectors = dense_masks.prompt_vectors(model.text, prompt, background,
                                          model.bundle.prompt_template)
        overlap = dense_masks.dense_overlap(tiled.encoder.spec.dense_grid, detail)
        tiled = open_tiled(raster_path, model, dataclasses.replace(tiled.settings,
                                                                   overlap=overlap))
        batches = EncodedBatches(tiled, model, control, dense=True)
        cell_px = tiled.tile_px - tiled.overlap_px
        probability_map, geotransform = dense_masks.dense_probability(
            batches, tiled.source, cell_px, vectors, model.bundle.logit_scale)
    else:
        background = masks.background_prompts(prompt, background)
        vectors = model.text.encode([prompt] + background)
        batches = EncodedBatches(tiled, model, control, dense=True)
        cell_px = tiled.tile_px / tiled.encoder.spec.dense_grid
        probability_map, geotransform = _tile_probability(
            tiled, batches, vectors, model.bundle.logit_scale, smooth_window,
            smooth_temperature)
    min_pixels = dense_masks.region_pixels(cell_px, tiled.source.geotransform, geotransform,
                                           min_region_share)
    value, rule = dense_masks.choose_threshold(probability_map, threshold)
    control.report(1.0, f"Mask of {prompt!r} against {', '.join(background) or 'nothing'}: "
                        f"{rule}")
    never = dense_masks.never_wins(probability_map, len(background))
    if never and (threshold is None or threshold < 0):
        control.warn(f"{prompt!r} never scores above an even split with its background words "
                     f"anywhere ({never}): the automatic threshold still marks the places "
                     f"most like it, which may not be {prompt!r} at all")
    record = provenance(model, tiled, prompt=prompt, background=background, method=method,
                        detail=detail if method == dense_masks.DENSE else None,
                        threshold=value, threshold_rule=rule, min_area=min_area,
                        min_region_share=min_region_share, min_region_pixels=min_pixels,
                        simplify=simplify, smooth_window=smooth_window,
                        smooth_temperature=smooth_temperature)
    source = tiled.source
    outline = polygon_from_ring(window_footprint(Window(0, 0, source.width, source.height),
                                                 source.geotransform))
    polygons = masks.polygonize(probability_map, geotransform, source.crs_wkt, value,
                                min_area, simplify, clip_to=outline, min_pixels=min_pixels)
    reason = None if polygons else _empty_reason(probability_map, value, rule, min_area)
    if reason:
        control.warn(f"the mask of {prompt!r} is empty: {reason}")
    fields = [("prompt", "str"), ("mean_score", "float"), ("area", "float")]
    with PolygonWriter(out_path, source.crs_wkt, fields, "mask", record) as writer:
        for geometry, mean_score, area in polygons:
            writer.add(geometry, {"prompt": prompt, "mean_score": mean_score, "area": area})
        if probability_path:  # inside the block: if it fails, no polygon layer either
            if source.squared is not None:  # laid over the raster pixel for pixel
                probability_map, geotransform = back_to_raster_grid(
                    probability_map, geotransform, source.squared)
            write_geotiff(probability_path, probability_map, geotransform, source.crs_wkt,
                          nodata=float("nan"), metadata=record,
                          band_description=f"probability of {prompt!r}")
    return {"output": str(out_path), "probability_raster": probability_path,
            "polygons": len(polygons), "threshold": value, "threshold_rule": rule,
            "empty_reason": reason, **batches.counts()}


def _tile_probability(tiled, batches, vectors, logit_scale, smooth_window, smooth_temperature):
    """The "tiles" method: each tile's grid smoothed (SAO) and averaged on a coarse mosaic."""
    grid = tiled.encoder.spec.dense_grid
    mosaic = Mosaic(tiled.source.width, tiled.source.height, tiled.source.geotransform,
                    max_side=4096, min_cell=max(1, tiled.tile_px // (grid * 4)))
    for windows, _, dense in batches:
        probability = masks.prompt_probability(dense, vectors[0], vectors[1:], logit_scale)
        for window, tile_probability, features in zip(windows, probability, dense):
            mosaic.add(window, masks.smooth_attention(tile_probability, features,
                                                      smooth_window, smooth_temperature))
    return mosaic.result(), mosaic.geotransform


def _empty_reason(probability_map, threshold, rule, min_area):
    reason = dense_masks.empty_reason(probability_map, threshold, rule)
    if reason is None:  # locations passed the threshold, but every region was too small
        reason = (f"every region was smaller than the minimum area ({min_area:g} m²): lower "
                  "the minimum area")
    return reason
