"""What changed between two rasters of one place: a change score a tile on their overlap, a
threshold that adapts to the scene, and each tile's best label before and after."""

from dataclasses import replace
from pathlib import Path

import numpy as np
from osgeo import gdal

from .. import labels as label_maths
from ..change_scores import adaptive_threshold, change_scores
from ..common_grid import bounds, on_same_grid, overlap, warped_onto
from ..index import TileIndex, default_cache_dir
from ..outputs import PolygonWriter
from ..raster import open_dataset
from ..raster_bands import choose_bands, choose_image_spec, data_bands, parse_band_mapping
from ..run_control import RunControl
from ..square_pixels import squared_view
from ..tiled_raster import TileSettings, open_tiled
from ..tiling import Window, window_footprint
from .indexing import index_rasters
from .text_search import write_heatmap

FEW_TILES = 20  # below this many compared tiles an adaptive threshold is a guess
# A tile is compared only when nodata covers the same part of it in both rasters, up to this
# share of it: nodata pixels are filled before encoding, so a tile cut by a scene edge in one
# date only would look changed. The masks are compared at MASK_SIDE x MASK_SIDE.
MAX_NODATA_MISMATCH = 0.02
MASK_SIDE = 32


def detect_changes(before_path, after_path, model, out_path, heatmap_path=None, settings=None,
                   labels=None, templates=None, threshold=None, bands_after=None,
                   cache_dir=None, control=None):
    """Compare two rasters of the same place tile by tile; write the tiles with their change.

    Both are cut into the same tiles on the first raster's pixel grid over their overlap (the
    second is warped onto that grid: any CRS, extent and resolution), embedded through the
    index cache (a second run on the same pair encodes nothing), and each tile gets 1 - cosine
    of its two embeddings. Tiles above the threshold (`threshold`, else one adapted to this
    scene's scores: `change_scores.adaptive_threshold`) are marked changed.

    Args:
        before_path, after_path: the earlier and the later raster.
        model: loaded model.
        out_path: polygon layer to write (change, changed, and labels when given).
        heatmap_path: optional change heat-map (GeoTIFF).
        settings: TileSettings for both rasters (`bands` for the first, and for the second
            unless `bands_after` is given).
        labels: optional labels (list or comma-separated text): each tile's best label before
            and after.
        templates: prompt templates for the labels (None: the model's).
        threshold: change score above which a tile has changed (None or 0: adaptive).
        bands_after: band mapping of the second raster.
        cache_dir: index cache folder (None: the user's); warped grids are kept beside.
        control: RunControl.

    Returns:
        dict with the outputs, tile counts, the threshold and how it was set.

    Raises:
        ValueError: no overlap, different band sets, a raster GDAL cannot read.
    """
    control = control or RunControl()
    settings = settings or TileSettings()
    before, after = open_dataset(before_path), open_dataset(after_path)
    check_band_sets(model.bundle, before, after, settings, bands_after)
    box = overlap(before, after)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    same_grid = on_same_grid(before, after)
    # onto the grid the first raster's tiles are cut on: its square ground pixels, when it is
    # read as those (a longitude / latitude raster), so the second needs no squaring of its own
    tile_grid, _ = squared_view(before)
    after_grid = after_path if same_grid else warped_onto(after_path, tile_grid,
                                                          cache / "warped")
    before_settings = replace(settings, extent=_work_extent(settings.extent, box, before),
                              value_range=settings.value_range or _shared_stretch(
                                  model, before_path, before, after, settings, control))
    after_settings = replace(before_settings, bands=_after_bands(
        model.bundle, after, settings, bands_after, same_grid))
    before = after = tile_grid = None  # release the GDAL handles before reading tiles
    control.report(0.0, "Embedding the tiles of both rasters")
    indexed = index_rasters([("before", str(before_path), before_settings),
                             ("after", str(after_grid), after_settings)], model, cache, control)
    first, second = (result.index for result in indexed)
    rows_before, rows_after = paired_tiles(first, second)
    paired = len(rows_before)
    if not len(rows_before):
        raise ValueError("no tile has valid pixels in both rasters: their overlap is nodata "
                         "in one of them (or smaller than half a tile)")
    one_only = len(first.windows) + len(second.windows) - 2 * paired
    if one_only:
        control.warn(f"{one_only} tiles were not compared: only one of the rasters has a "
                     "usable tile there (the other is nodata there, or shows one value in "
                     "every band)")
    same_cover = same_nodata(open_tiled(before_path, model, before_settings).source,
                             open_tiled(after_grid, model, after_settings).source,
                             first.windows[rows_before], control)
    if not same_cover.all():
        control.warn(f"{int((~same_cover).sum())} tiles were not compared: nodata covers a "
                     "different part of them in the two rasters (a scene edge or cloud mask "
                     "in one date only), which would look like change")
        rows_before, rows_after = rows_before[same_cover], rows_after[same_cover]
    if not len(rows_before):
        raise ValueError("no tile has the same valid pixels in both rasters: nodata covers "
                         "different parts of every tile of their overlap")
    embeddings = (first.embeddings[rows_before], second.embeddings[rows_after])
    scores = change_scores(*embeddings)
    if len(scores) < FEW_TILES and not threshold:
        control.warn(f"only {len(scores)} tiles were compared: the adaptive threshold is "
                     "unreliable on so few; give a threshold")
    cut = float(threshold) if threshold else adaptive_threshold(scores)
    named = _best_labels(model, labels, templates, embeddings)
    after_raster = {**(second.provenance.get("raster") or {}), "path": str(after_path)}
    if not same_grid:
        after_raster["resampled_onto_before_grid"] = str(after_grid)
    record = {**first.provenance, "job": "change detection", "after_raster": after_raster,
              "threshold": cut, "threshold_rule": "given" if threshold else "adaptive",
              "labels": named[0] if named else None, "overlap": list(box),
              "parameters": {**(first.provenance.get("parameters") or {}),
                             "threshold": float(threshold) if threshold else 0.0,
                             "labels": named[0] if named else None,
                             "bands_after": bands_after}}
    windows = first.windows[rows_before]
    _write_changes(out_path, first, windows, scores, cut, named, record)
    if heatmap_path:
        heat = TileIndex(embeddings[0], windows, first.geotransform, first.crs_wkt, record)
        write_heatmap(heatmap_path, heat, scores, "change (1 - cosine)",
                      "change score (1 - cosine)")
    return {"output": str(out_path), "heatmap": heatmap_path, "tiles_compared": len(scores),
            "tiles_changed": int((scores > cut).sum()), "threshold": cut,
            "threshold_rule": record["threshold_rule"], "warped": not same_grid,
            "reused": [result.reused for result in indexed],
            "tiles_in_one_only": len(first) + len(second) - 2 * paired,
            "tiles_not_compared": paired - len(scores)}


def check_band_sets(bundle, before, after, settings, bands_after=None):
    """The image encoder both rasters are read with; an error when their band sets differ.

    Raises:
        ValueError: different image encoders or different numbers of data bands (a 12-band
            Sentinel-2 scene against an RGB photo) unless band mappings make them match.
    """
    after_bands = bands_after or settings.bands
    specs = [choose_image_spec(bundle, before, settings.bands, settings.encoder),
             choose_image_spec(bundle, after, after_bands, settings.encoder)]
    counts = [len(parse_band_mapping(mapping)) if mapping else len(data_bands(dataset))
              for mapping, dataset in ((settings.bands, before), (after_bands, after))]
    if specs[0].name != specs[1].name or counts[0] != counts[1]:
        raise ValueError(
            f"the two rasters have different band sets: the first has {counts[0]} bands (read "
            f"by the '{specs[0].name}' image encoder), the second {counts[1]} (read by "
            f"'{specs[1].name}'), so their tiles cannot be compared; use rasters of the same "
            "sensor, or band mappings that make them match (for example Bands 4,3,2 for a "
            "Sentinel-2 scene and Bands after 1,2,3 for an RGB one, Image encoder rgb)")
    return specs[0]


def _shared_stretch(model, before_path, before, after, settings, control):
    """The first raster's percentile stretch, to read both alike (None for 8-bit rasters).

    Each raster stretched on its own would look different wherever a large part of the scene
    changed (the percentiles move), and unchanged tiles would seem to change with it.
    """
    types = [gdal.GetDataTypeName(d.GetRasterBand(1).DataType) for d in (before, after)]
    if types[0] != types[1]:
        control.warn(f"the rasters hold different data types ({types[0]}, {types[1]}): each is "
                     "stretched on its own, so a change of brightness over the whole scene can "
                     "look like change; give a Value range to read both alike")
        return None
    if types[0] == "Byte":
        return None
    scaling = open_tiled(before_path, model, settings).source.scaling
    return (list(scaling["low"]), list(scaling["high"]))


def _after_bands(bundle, after, settings, bands_after, same_grid):
    """The second raster's band numbers (they stay the same in its warped VRT, where the
    alpha band comes last); None keeps the default, as an index built alone would."""
    mapping = bands_after or settings.bands
    if mapping or same_grid:
        return mapping
    spec = choose_image_spec(bundle, after, None, settings.encoder)
    return choose_bands(after, None, len(spec.bands), spec.bands)


def _work_extent(extent, box, dataset):
    """The overlap (within the user's extent): None when it is the whole first raster, so that
    its index is the same as one built without an extent."""
    if extent is not None:
        box = (max(box[0], extent[0]), max(box[1], extent[1]),
               min(box[2], extent[2]), min(box[3], extent[3]))
        if box[0] >= box[2] or box[1] >= box[3]:
            raise ValueError("the chosen extent does not meet the two rasters' overlap")
    whole = bounds(dataset)
    gt = dataset.GetGeoTransform()
    slack = 0.5 * max(abs(gt[1]), abs(gt[5]))
    covers = all(abs(a - b) <= slack for a, b in zip(box, whole))
    return None if covers and extent is None else box


def same_nodata(source_before, source_after, windows, control):
    """(tiles,) True where the two rasters' valid pixels agree on all but
    MAX_NODATA_MISMATCH of the tile (masks read at MASK_SIDE pixels a side). Rasters with no
    nodata, alpha band or mask agree everywhere: nothing is read then."""
    agree = np.ones(len(windows), bool)
    if source_before.always_valid and source_after.always_valid:
        return agree
    for number, window in enumerate(windows):
        if number % 256 == 0:
            control.check()
        window = Window(*(int(v) for v in window))
        valid_before = source_before.read(window, MASK_SIDE)[1]
        valid_after = source_after.read(window, MASK_SIDE)[1]
        agree[number] = np.mean(valid_before != valid_after) <= MAX_NODATA_MISMATCH
    return agree


def paired_tiles(first, second):
    """Row numbers of the tiles present in both indexes (same windows), in the first's order."""
    rows = {tuple(int(v) for v in window): row for row, window in enumerate(second.windows)}
    pairs = [(row, rows[key]) for row, key in
             enumerate(tuple(int(v) for v in window) for window in first.windows)
             if key in rows]
    return (np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64))


def _best_labels(model, labels, templates, embeddings):
    """(labels, best label number before, best after), or None without labels."""
    if not labels:
        return None
    labels = label_maths.parse_labels(labels) if isinstance(labels, str) else list(labels)
    templates = label_maths.parse_templates(templates, model.bundle.prompt_template)
    vectors = label_maths.label_embeddings(model.text, labels, templates)
    best = [np.argmax(np.asarray(e, np.float32) @ vectors.T, axis=1) for e in embeddings]
    return labels, best[0], best[1]


def _write_changes(out_path, index, windows, scores, cut, named, record):
    fields = [("change", "float"), ("changed", "int")]
    if named:
        fields += [("label_before", "str"), ("label_after", "str"), ("transition", "str")]
    with PolygonWriter(out_path, index.crs_wkt, fields, "changes", record) as writer:
        for row, (window, score) in enumerate(zip(windows, scores)):
            values = {"change": float(score), "changed": int(score > cut)}
            if named:
                names, before, after = named
                first, second = names[before[row]], names[after[row]]
                values.update(label_before=first, label_after=second,
                              transition=_transition(first, second, score > cut))
            writer.add(_footprint(index, window), values)


def _transition(before, after, changed):
    """"forest -> bare soil" for a changed tile whose best label changed, else the label
    before: on an unchanged tile a new best label is the labels' own wavering."""
    return f"{before} -> {after}" if changed and before != after else before


def _footprint(index, window):
    return window_footprint(Window(*(int(v) for v in window)), index.geotransform)
