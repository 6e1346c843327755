"""The scale Label tiles picks by itself: the one at which the user's labels fit the tiles best.

The general rule (`scale.automatic_gsd`: the finest scale that enlarges a raster pixel at most
2 times) knows the raster's pixels but not its content: scenes of 80 m and of 2 km look alike
to it. When labels are given they can choose: a sample of tiles is labelled at each candidate
scale (one view, no refinement) and the scale whose tiles get the highest mean best-label
probability wins. On the AID validation mosaics (never UC Merced or RSSCN7) that statistic
peaked at the most accurate scale at 10 m a pixel and next to it at 30 m (71.7 against 74.2 %),
where the 2x rule lost 5 and 24 points; the candidates and the statistic were fixed there
before the scale benchmark was run.
"""

import dataclasses
import time

import numpy as np

from . import labels as label_maths
from .batches import EncodedBatches
from .run_control import RunControl
from .scale import LABELS, scale_warnings
from .tiled_raster import open_tiled

# Candidate enlargements of a raster pixel (0.5: shrunk 2x); the scales they give are kept
# inside the model's range. The AID validation mosaics' grid.
UPSAMPLINGS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
SAMPLE_TILES = 128  # tiles a candidate; 64-128 picked the same scale on validation, 32 did not


@dataclasses.dataclass
class ScaleChoice:
    """The chosen metres a model pixel and each candidate's mean best-label probability."""

    gsd_m: float
    fits: dict  # gsd_m -> mean best-label probability of the sample
    sample_tiles: int
    seconds: float

    def record(self):
        """JSON-ready, for the output's metadata."""
        return {"statistic": "mean best-label probability of a sample of tiles, one view",
                "sample_tiles": self.sample_tiles, "seconds": round(self.seconds, 2),
                "candidates": {f"{gsd:.4g}": round(fit, 4) for gsd, fit in self.fits.items()}}


def candidate_gsds(raster_gsd_m, gsd_range_m):
    """Metres a model pixel to try: the raster's pixel size over each of `UPSAMPLINGS`,
    kept inside the model's range, each once."""
    low, high = gsd_range_m
    return sorted({round(min(max(raster_gsd_m / up, low), high), 6) for up in UPSAMPLINGS})


def spread_sample(windows, count=SAMPLE_TILES):
    """Up to `count` of the windows, evenly spread over their (row-major) order."""
    if len(windows) <= count:
        return list(windows)
    picks = np.unique(np.linspace(0, len(windows) - 1, count).round().astype(int))
    return [windows[i] for i in picks]


def choose_label_scale(raster_path, model, vectors, settings, control=None):
    """The `ScaleChoice` for labelling with `vectors`, or None when the scale is not Label
    tiles' to choose: given by the user, a model without a known range, or under 2 labels."""
    control = control or RunControl()
    if settings.gsd_m is not None or model.bundle.scale is None or len(vectors) < 2:
        return None
    started = time.perf_counter()
    first = open_tiled(raster_path, model, settings)
    # the first opening's value stretch for every candidate: the same pixels look the same
    fixed = dataclasses.replace(settings, views=1, overlap=0.0,
                                value_range=first.source.value_bounds())
    quiet = RunControl(None, control.is_cancelled, None)
    candidates = candidate_gsds(first.scale.raster_gsd_m, model.bundle.scale.gsd_range_m)
    if len(candidates) < 2:  # a raster far finer or coarser than the model knows
        return None
    fits, sampled = {}, 0
    for gsd in candidates:
        try:
            tiled = open_tiled(raster_path, model, dataclasses.replace(fixed, gsd_m=gsd))
        except ValueError:  # tiles of this scale do not fit the raster (or its area)
            continue
        tiled.windows = spread_sample(tiled.windows)
        best = [label_maths.label_probabilities(embeddings, vectors,
                                                model.bundle.logit_scale).max(axis=1)
                for _, embeddings, _ in EncodedBatches(tiled, model, quiet)]
        if best:
            fits[gsd] = float(np.concatenate(best).mean())
            sampled = max(sampled, sum(len(b) for b in best))
    if not fits:
        return None
    chosen = max(fits, key=lambda gsd: (fits[gsd], -gsd))  # a tie: the finer scale
    return ScaleChoice(chosen, fits, sampled, time.perf_counter() - started)


def mark_chosen(tiled, choice):
    """`tiled` (opened at the chosen scale) with its scale saying how it was chosen, and the
    warnings of a scale the user gave left out (the enlargement was chosen, not slipped)."""
    scale = dataclasses.replace(tiled.scale, how=LABELS, label_fits=choice.record())
    given = scale_warnings(tiled.scale)
    warnings = [w for w in tiled.warnings if w not in given] + scale_warnings(scale)
    return dataclasses.replace(tiled, scale=scale, warnings=warnings)
