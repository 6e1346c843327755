"""Zero-shot labelling of every tile of a raster: polygon layer and optional class raster.

By default every tile is embedded first and the labels are then refined with all tiles
together (`transductive.refine`): tiles that look alike tend to share a label.
"""

from dataclasses import dataclass

import numpy as np

from .. import labels as label_maths
from .. import location, transductive
from ..batches import EncodedBatches
from ..embedding_store import EmbeddingStore
from ..outputs import PolygonWriter
from ..run_control import RunControl
from ..tiled_raster import TileSettings, open_tiled
from ..tiling import window_footprint
from .label_output import label_fields, label_values, probability_mosaic, write_class_raster
from .records import provenance

ENCODING_SHARE = 0.9  # of the progress bar; refinement and writing share the rest
WRITE_CHUNK = 4096  # tiles whose top labels are ranked at once


@dataclass
class TileScores:
    """The encoded tiles of a raster, their label probabilities and what refinement did."""

    windows: list
    probabilities: np.ndarray  # (tiles, labels) float32
    counts: dict
    refinement: transductive.Refinement = None


def label_raster(raster_path, model, labels, out_path, settings=None, templates=None, top_k=3,
                 min_score=0.0, class_raster_path=None, control=None, location_weight=0.0,
                 refine=True):
    """Label every tile of a raster with its best `top_k` labels; write a polygon layer.

    With `location_weight` > 0 (and a bundle with a location encoder) each label's logit gains
    that weight times the similarity of the label to the tile's place (a location prior).
    With `refine` (the default) the tiles' label probabilities are refined together after all
    tiles are embedded (transductive; the zero-shot probabilities are its prior); the float16
    embeddings are kept meanwhile, in memory up to 256 MB, else in a temporary file.

    Returns:
        dict with the output paths, tile counts, the number of tiles per best label and what
        refinement did ("refinement": None when it was off).
    """
    control = control or RunControl()
    labels = label_maths.parse_labels(labels) if isinstance(labels, str) else list(labels)
    templates = label_maths.parse_templates(templates, model.bundle.prompt_template)
    vectors = label_maths.label_embeddings(model.text, labels, templates)
    top_k = max(1, min(int(top_k), len(labels)))
    if location_weight:
        location.require_location(model)
    if len(labels) == 1:
        control.warn("only one label: every tile gets it with score 1 (scores compare the "
                     "labels given); add labels to compare it with")
    tiled = open_tiled(raster_path, model, settings or TileSettings())
    if location_weight:  # a raster without a CRS fails here, before any tile is encoded
        location.to_lonlat(location.window_centres(tiled.windows[:1], tiled.source.geotransform),
                           tiled.source.crs_wkt)
        control.report(0.0, f"Location prior: each label's score gains {location_weight:g} "
                            "times its similarity to the tile's place")
    refine_settings = transductive.settings_for(model.bundle) if refine else None
    scores = _score_tiles(tiled, model, vectors, location_weight, control, refine_settings)
    refined = scores.refinement.describe() if scores.refinement else None
    record = provenance(model, tiled, labels=labels, templates=templates, top_k=top_k,
                        min_score=min_score, location_weight=location_weight,
                        refine=refine_settings.describe() if refine else False)
    record["refinement"] = refined
    counts = _write_labels(out_path, class_raster_path, tiled, labels, scores, top_k,
                           min_score, record)
    return {"output": str(out_path), "class_raster": class_raster_path, "label_counts": counts,
            "refinement": refined, **scores.counts}


def _score_tiles(tiled, model, vectors, location_weight, control, refine_settings):
    """Encode every tile and score it against the labels; refine the scores together with
    `refine_settings` (None: not refined)."""
    refine = refine_settings is not None
    batches = EncodedBatches(tiled, model, _part(control, ENCODING_SHARE))
    windows, probabilities = [], []
    capacity = tiled.windows_total if refine else 0
    with EmbeddingStore(capacity, model.bundle.embedding_dim) as store:
        for batch_windows, embeddings, _ in batches:
            prior = _location_prior(model, tiled, batch_windows, vectors, location_weight)
            probabilities.append(label_maths.label_probabilities(
                embeddings, vectors, model.bundle.logit_scale, prior).astype(np.float32))
            windows += batch_windows
            if refine:
                store.add(embeddings)
        probabilities = (np.concatenate(probabilities) if probabilities
                         else np.zeros((0, len(vectors)), np.float32))
        if not refine:
            return TileScores(windows, probabilities, batches.counts())
        control.report(ENCODING_SHARE)
        refinement = transductive.refine(store.array(), probabilities, refine_settings)
    control.check()
    control.report(ENCODING_SHARE + 0.05, refinement_message(refinement, len(windows)))
    return TileScores(windows, refinement.probabilities, batches.counts(), refinement)


def refinement_message(refinement, tiles):
    """The log line of a refinement of `tiles` tiles."""
    if not refinement.ran:
        return "Labels not refined: refinement needs at least 2 tiles and 2 labels"
    return (f"Labels refined with all {tiles} tiles together (transductive): "
            f"{refinement.changed} changed ({refinement.seconds:.1f} s)")


def _write_labels(out_path, class_raster_path, tiled, labels, scores, top_k, min_score, record):
    """The polygon layer (and class raster); returns the number of tiles per best label."""
    fields = label_fields(top_k)
    source = tiled.source
    class_mosaic = probability_mosaic(source.width, source.height, source.geotransform,
                                      tiled.tile_px, len(labels)) if class_raster_path else None
    counts = {}
    with PolygonWriter(out_path, tiled.source.crs_wkt, fields, "labels", record) as writer:
        for first in range(0, len(scores.windows), WRITE_CHUNK):
            rows = scores.probabilities[first:first + WRITE_CHUNK]
            best = label_maths.top_labels(rows, labels, top_k, min_score)
            for window, pairs, row in zip(scores.windows[first:first + WRITE_CHUNK], best, rows):
                writer.add(window_footprint(window, tiled.source.geotransform,
                                            tiled.source.width, tiled.source.height),
                           label_values(pairs))
                counts[pairs[0][0]] = counts.get(pairs[0][0], 0) + 1
                if class_mosaic is not None:
                    class_mosaic.add(window, row)
        if class_mosaic is not None:
            write_class_raster(class_raster_path, class_mosaic, labels, source.crs_wkt, record)
    return counts


def _part(control, share):
    """A RunControl whose progress fills the first `share` of `control`'s bar."""
    return RunControl(lambda fraction, message: control.report(share * fraction, message),
                      control.is_cancelled, control.warn)


def _location_prior(model, tiled, windows, vectors, weight):
    """`weight` times each label's similarity to each tile's place, or None without a prior."""
    if not weight:
        return None
    centres = location.window_centres(windows, tiled.source.geotransform)
    return weight * location.prior_scores(model, centres, tiled.source.crs_wkt, vectors)
