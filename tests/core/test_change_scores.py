"""Change scores and the threshold that adapts to the scene, on known mixtures."""

import numpy as np
import pytest

from terralens.plugin.core.change_scores import (
    MIN_THRESHOLD,
    adaptive_threshold,
    change_scores,
    iterated_robust_threshold,
    otsu_threshold,
    robust_threshold,
)


def mixture(changed, total=400, seed=0):
    """Unchanged tiles around 0.1 (resampling noise), `changed` of them around 0.8."""
    rng = np.random.default_rng(seed)
    return np.concatenate([0.1 + 0.02 * rng.standard_normal(total - changed),
                           0.8 + 0.1 * rng.standard_normal(changed)])


def test_scores_are_one_minus_cosine():
    before = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    after = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    assert change_scores(before, after) == pytest.approx([0.0, 1.0, 2.0])


@pytest.mark.parametrize("changed", [0, 20, 200])
def test_the_adaptive_threshold_separates_few_or_half_changed_tiles(changed):
    scores = mixture(changed)
    cut = adaptive_threshold(scores)
    assert (scores[400 - changed:] > cut).all()
    assert (scores[:400 - changed] > cut).mean() < 0.01


def test_plain_median_rule_fails_when_half_changed_and_otsu_when_nothing_did():
    half = mixture(200)
    assert (half[200:] > robust_threshold(half)).mean() < 0.9
    assert (half[200:] > iterated_robust_threshold(half)).all()
    unchanged = mixture(0)
    assert (unchanged > otsu_threshold(unchanged)).mean() > 0.1


def test_identical_tiles_do_not_all_count_as_changed():
    scores = np.zeros(100)
    scores[:3] = 1e-6  # numerical noise of one grid read twice
    assert adaptive_threshold(scores) == MIN_THRESHOLD
    with pytest.raises(ValueError, match="no tile was compared"):
        adaptive_threshold([])
