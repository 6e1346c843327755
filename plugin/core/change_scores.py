"""Change between two embeddings of a tile (1 - cosine) and a threshold that adapts to the scene."""

import numpy as np

# The threshold rule of `adaptive_threshold` (iterated median + 6 MAD taken as a standard
# deviation, i.e. 6 x 1.4826 x MAD; "k MAD" below means the same) was chosen on pairs of
# AID mosaics (the validation data of DATA.md) among 11 rules (Otsu, median + k MAD, both
# iterated or not), never on the UC Merced pairs whose figures are reported: it had the best
# F1 among the rules that mark at most 5 % of the tiles of unchanged pairs. Plain median + k
# MAD fails when a third or more of the scene changed (the median is then a changed tile's);
# Otsu marks a third of an unchanged scene. `tools/eval_change.py --split val` compares them.
# With one view a tile the same comparison chose k = 4; tiles averaged over 3 rotations (the
# default since) vary less where nothing changed, so their MAD is smaller and k = 6 won.
MAD_K = 6.0
# A floor for scenes whose unchanged tiles are bit for bit the same (one grid, nothing
# resampled): their MAD is 0 and numerical noise would count as change. Every adaptive
# threshold of the validation pairs was far above it (see tools/eval_change.py).
MIN_THRESHOLD = 0.05
MAD_TO_SIGMA = 1.4826  # a normal distribution's sigma is 1.4826 times its MAD
HISTOGRAM_BINS = 256


def change_scores(before, after):
    """1 - cosine similarity of matching rows of two embedding arrays (0: same, 2: opposite)."""
    before = np.asarray(before, np.float32)
    after = np.asarray(after, np.float32)
    norms = np.linalg.norm(before, axis=1) * np.linalg.norm(after, axis=1)
    cosine = np.einsum("ij,ij->i", before, after) / np.maximum(norms, 1e-12)
    return (1.0 - cosine).astype(np.float32)


def robust_threshold(scores, k=MAD_K):
    """median + k x (MAD as a standard deviation): where scores stop looking like the bulk."""
    scores = np.asarray(scores, np.float64)
    median = float(np.median(scores))
    return median + k * MAD_TO_SIGMA * float(np.median(np.abs(scores - median)))


def iterated_robust_threshold(scores, k=MAD_K, rounds=20):
    """`robust_threshold` of the scores below the previous threshold, repeated: the bulk of
    unchanged tiles is measured without the changed ones, however many there are."""
    scores = np.asarray(scores, np.float64)
    cut = otsu_threshold(scores)
    for _ in range(rounds):
        bulk = scores[scores <= cut]
        if bulk.size < 2:
            break
        new = robust_threshold(bulk, k)
        if abs(new - cut) <= 1e-9:
            break
        cut = new
    return cut


def otsu_threshold(scores, bins=HISTOGRAM_BINS):
    """Otsu's threshold: the cut that best separates the scores into two groups."""
    scores = np.asarray(scores, np.float64)
    low, high = float(scores.min()), float(scores.max())
    if high <= low:
        return high
    counts, edges = np.histogram(scores, bins=bins, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts)
    mean = np.cumsum(counts * centres)
    total, grand = weight[-1], mean[-1]
    upper = total - weight
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (grand * weight - total * mean) ** 2 / (weight * upper)
    between[~np.isfinite(between)] = -1.0
    return float(edges[int(np.argmax(between)) + 1])


def adaptive_threshold(scores):
    """The change score above which a tile counts as changed, from the scene's own scores:
    `iterated_robust_threshold` with k = 6 (chosen on validation pairs, see MAD_K), at least
    MIN_THRESHOLD.

    Raises:
        ValueError: no scores.
    """
    scores = np.asarray(scores)
    if scores.size == 0:
        raise ValueError("no tile was compared: the rasters' overlap has no valid tile")
    return max(MIN_THRESHOLD, float(iterated_robust_threshold(scores)))
