"""From raster values to [0, 1]: percentile stretch, user ranges, the decimated sample size."""

import numpy as np
import pytest

from terralens.plugin.core.raster_scaling import (
    channel_ranges,
    check_value_range,
    describe_scaling,
    sample_read_size,
    stretch_from_sample,
)


def test_sample_is_decimated_to_the_longer_side_and_keeps_the_aspect():
    assert sample_read_size(40000, 20000) == (1024, 512)
    assert sample_read_size(300, 5) == (300, 5)
    assert sample_read_size(3, 5000, side=100) == (1, 100)


def test_stretch_uses_valid_values_and_guards_constant_and_empty_channels():
    ramp = np.arange(100, dtype=np.float64).reshape(1, 10, 10)
    raw = np.concatenate([ramp, np.full((1, 10, 10), 7.0), ramp])
    valid = np.ones((10, 10), bool)
    valid[0, 0] = False  # a nodata pixel must not count
    raw[0, 0, 0] = 1e9
    lows, highs = stretch_from_sample(raw, valid)
    assert lows[0] == pytest.approx(np.percentile(np.arange(1, 100), 2))
    assert highs[0] == pytest.approx(np.percentile(np.arange(1, 100), 98))
    assert (lows[1], highs[1]) == (7.0, 8.0)  # constant: high = low + 1
    assert stretch_from_sample(raw, np.zeros((10, 10), bool)) == ([0.0] * 3, [1.0] * 3)


def test_value_range_is_checked():
    assert check_value_range(("0", 3000)) == (0.0, 3000.0)
    for bad in ((5, 5), (1, float("inf")), "abc", None):
        with pytest.raises(ValueError, match="value_range"):
            check_value_range(bad)


def test_value_ranges_may_be_given_per_band():
    assert channel_ranges((0, 3000), 2) == ([0.0, 0.0], [3000.0, 3000.0])
    assert channel_ranges(([0, 10], [100, 200]), 2) == ([0.0, 10.0], [100.0, 200.0])
    with pytest.raises(ValueError, match="must give 3 lows and highs"):
        channel_ranges(([0, 10], [100, 200]), 3)
    with pytest.raises(ValueError, match="value_range"):
        channel_ranges(([0, 10], [100, 5]), 2)


def test_description_records_the_rule():
    record = describe_scaling("percentile", [1.0], [2.0], [4])
    assert record == {"rule": "percentile", "bands": [4], "low": [1.0], "high": [2.0],
                      "percentiles": [2.0, 98.0], "sample_max_side": 1024}
    assert "percentiles" not in describe_scaling("byte", [0.0], [255.0], [1])
