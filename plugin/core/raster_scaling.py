"""How raster values become [0, 1]: the percentile stretch and its description for outputs."""

import math

import numpy as np

PERCENTILES = (2.0, 98.0)
SAMPLE_SIDE = 1024  # the stretch is measured on a decimated read at most this many pixels a side


def sample_read_size(width, height, side=SAMPLE_SIDE):
    """Buffer size of a decimated whole-raster read whose longer side is at most `side`."""
    factor = max(1.0, max(width, height) / side)
    return (max(1, min(side, math.ceil(width / factor))),
            max(1, min(side, math.ceil(height / factor))))


def check_value_range(value_range):
    """(low, high) floats from a user's (min, max), or a ValueError saying what is wrong."""
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"value_range must be (min, max), got {value_range!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and high > low):
        raise ValueError(f"value_range needs finite min < max, got {value_range!r}")
    return low, high


def channel_ranges(value_range, channels):
    """Per-channel (lows, highs) from (min, max) for every channel, or from (lows, highs) with
    one value per channel (a stretch measured on another raster, to read this one alike).

    Raises:
        ValueError: not a range, or lists of another length than `channels`.
    """
    per_band = (isinstance(value_range, (list, tuple)) and len(value_range) == 2
                and all(isinstance(part, (list, tuple)) for part in value_range))
    if not per_band:
        low, high = check_value_range(value_range)
        return [low] * channels, [high] * channels
    first, second = value_range
    if len(first) != channels or len(second) != channels:
        raise ValueError(f"per-band value ranges must give {channels} lows and highs, got "
                         f"{len(first)} and {len(second)}")
    pairs = [check_value_range(pair) for pair in zip(first, second)]
    return [low for low, _ in pairs], [high for _, high in pairs]


def stretch_from_sample(raw, valid, percentiles=PERCENTILES):
    """Per-channel (lows, highs) at `percentiles` of the valid values of a (C, H, W) sample.

    A channel without valid values gets (0, 1); a constant one gets high = low + 1 so that it
    maps to 0 instead of dividing by zero.
    """
    lows, highs = [], []
    for channel in raw:
        values = channel[valid]
        if values.size == 0:
            low, high = 0.0, 1.0
        else:
            low, high = (float(v) for v in np.percentile(values, percentiles))
        lows.append(low)
        highs.append(high if high > low else low + 1.0)
    return lows, highs


def describe_scaling(rule, lows, highs, bands):
    """JSON-ready record of the scaling, for output metadata and index provenance.

    `value = clip((raw - low) / (high - low), 0, 1)` per model band; `rule` says where low and
    high came from: "byte" (0 and 255), "range" (given by the user) or "percentile".
    """
    description = {"rule": rule, "bands": [int(b) for b in bands],
                   "low": [float(v) for v in lows], "high": [float(v) for v in highs]}
    if rule == "percentile":
        description["percentiles"] = list(PERCENTILES)
        description["sample_max_side"] = SAMPLE_SIDE
    return description
