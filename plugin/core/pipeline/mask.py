"""Prompt masks: dense prompt probabilities over the raster, thresholded into polygons."""

from .. import masks
from ..batches import EncodedBatches
from ..mosaic import Mosaic
from ..outputs import PolygonWriter, write_geotiff
from ..run_control import RunControl
from ..tiled_raster import TileSettings, open_tiled
from .records import provenance


def prompt_mask(raster_path, model, prompt, out_path, settings=None, threshold=0.5,
                min_area=0.0, simplify=0.0, background=None, smooth_window=3,
                smooth_temperature=0.1, probability_path=None, control=None):
    """Polygons where the prompt is more likely than background prompts, per dense location.

    Returns:
        dict with the output paths, the polygon count and the tile counts.
    """
    control = control or RunControl()
    if not prompt or not prompt.strip():
        raise ValueError("the prompt is empty: type what to outline, for example 'building'")
    background = masks.background_prompts(prompt, background)
    tiled = open_tiled(raster_path, model, settings or TileSettings())
    if not tiled.encoder.has_dense:
        raise ValueError(f"model {model.bundle.id!r} has no dense features: choose a bundle "
                         "whose image encoder returns them for prompt masks")
    vectors = model.text.encode([prompt] + background)
    grid = tiled.encoder.spec.dense_grid
    mosaic = Mosaic(tiled.source.width, tiled.source.height, tiled.source.geotransform,
                    max_side=4096, min_cell=max(1, tiled.tile_px // (grid * 4)))
    batches = EncodedBatches(tiled, model, control, dense=True)
    for windows, _, dense in batches:
        probability = masks.prompt_probability(dense, vectors[0], vectors[1:],
                                               model.bundle.logit_scale)
        for window, tile_probability, features in zip(windows, probability, dense):
            smoothed = masks.smooth_attention(tile_probability, features, smooth_window,
                                              smooth_temperature)
            mosaic.add(window, smoothed)
    probability_map = mosaic.result()
    record = provenance(model, tiled, prompt=prompt, background=background,
                        threshold=threshold, min_area=min_area, simplify=simplify,
                        smooth_window=smooth_window, smooth_temperature=smooth_temperature)
    polygons = masks.polygonize(probability_map, mosaic.geotransform, tiled.source.crs_wkt,
                                threshold, min_area, simplify)
    fields = [("prompt", "str"), ("mean_score", "float"), ("area", "float")]
    with PolygonWriter(out_path, tiled.source.crs_wkt, fields, "mask", record) as writer:
        for geometry, mean_score, area in polygons:
            writer.add(geometry, {"prompt": prompt, "mean_score": mean_score, "area": area})
    if probability_path:
        write_geotiff(probability_path, probability_map, mosaic.geotransform,
                      tiled.source.crs_wkt, nodata=float("nan"), metadata=record)
    return {"output": str(out_path), "probability_raster": probability_path,
            "polygons": len(polygons), **batches.counts()}
