"""Pseudo-labels for dense prompts from captions and similarity maps (RS-WebLI localisation).

Captions say what is in an image, not where. A word named by an image's captions is a
positive of that image: its smoothed similarity map, normalised and thresholded, says where.
A frequent word that none of its captions name (nor a word of the same group: "pond" does not
deny "water") is a negative: background everywhere, with a lower weight since captions omit
things.
"""

import re

import numpy as np
import torch
from torch.nn import functional

# (prompt the plugin would type, caption forms naming it, group of words that overlap it).
VOCABULARY = (
    ("building", ("building", "buildings", "house", "houses"), "built"),
    ("trees", ("tree", "trees", "forest", "woods"), "green"),
    ("road", ("road", "roads", "street", "streets"), "road"),
    ("river", ("river", "rivers"), "water"),
    ("water", ("water", "ocean", "sea", "lake", "lakes"), "water"),
    ("pond", ("pond", "ponds"), "water"),
    ("car", ("car", "cars"), "vehicle"),
    ("parking lot", ("parking lot", "parking lots"), "road"),
    ("bare ground", ("bareland", "bare land", "bare ground", "desert"), "ground"),
    ("beach", ("beach", "beaches"), "ground"),
    ("grass", ("grass", "lawn", "lawns", "meadow", "meadows"), "green"),
    ("farmland", ("farmland", "farmlands", "field", "fields"), "green"),
    ("playground", ("playground", "playgrounds"), "sport"),
    ("bridge", ("bridge", "bridges", "viaduct", "viaducts"), "road"),
    ("boat", ("boat", "boats", "ship", "ships"), "vehicle"),
    ("airplane", ("plane", "planes", "airplane", "airplanes"), "vehicle"),
    ("storage tank", ("tank", "tanks"), "built"),
    ("railway", ("railway", "railways", "train", "trains"), "road"),
    ("mountain", ("mountain", "mountains"), "ground"),
    ("swimming pool", ("swimming pool", "swimming pools", "pool", "pools"), "water"),
    ("stadium", ("stadium", "stadiums"), "sport"),
    ("church", ("church", "churches"), "built"),
    ("plants", ("plant", "plants", "vegetation"), "green"),
    ("roof", ("roof", "roofs"), "built"),
)


def vocabulary_prompts(vocabulary=VOCABULARY):
    """The prompts of a vocabulary, in order."""
    return [prompt for prompt, _, _ in vocabulary]


def _patterns(vocabulary):
    return [re.compile(r"\b(" + "|".join(re.escape(f) for f in forms) + r")\b")
            for _, forms, _ in vocabulary]


def caption_labels(captions_per_image, vocabulary=VOCABULARY):
    """(positive, negative) bool arrays (N, K) from each image's captions.

    Args:
        captions_per_image: N lists of caption strings.
        vocabulary: (prompt, forms, group) entries.

    Returns:
        positive[i, k]: a caption of image i names word k. negative[i, k]: no caption names
        word k nor any word of its group.
    """
    patterns = _patterns(vocabulary)
    groups = np.array([group for _, _, group in vocabulary])
    positive = np.zeros((len(captions_per_image), len(vocabulary)), bool)
    for index, captions in enumerate(captions_per_image):
        text = " ".join(captions).lower()
        positive[index] = [bool(p.search(text)) for p in patterns]
    same_group = groups[:, None] == groups[None, :]
    mentioned_group = (positive.astype(np.int64) @ same_group.astype(np.int64)) > 0
    return positive, ~mentioned_group


def gaussian_kernel(sigma):
    """1-D Gaussian kernel (float32 tensor) reaching 3 sigma, summing to one."""
    radius = max(1, int(np.ceil(3 * sigma)))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_smooth(maps, sigma):
    """Separable Gaussian smoothing of (..., H, W) maps, edges replicated (sigma in cells)."""
    if sigma <= 0:
        return maps
    shape = maps.shape
    flat = maps.reshape(-1, 1, *shape[-2:]).float()
    kernel = gaussian_kernel(sigma)
    radius = len(kernel) // 2
    flat = functional.pad(flat, (radius, radius, radius, radius), mode="replicate")
    flat = functional.conv2d(flat, kernel.reshape(1, 1, 1, -1))
    flat = functional.conv2d(flat, kernel.reshape(1, 1, -1, 1))
    return flat.reshape(shape)


def normalise_maps(maps, eps=1e-6):
    """Min-max normalise each (H, W) map of (..., H, W) to [0, 1] (flat maps become 0.5)."""
    flat = maps.flatten(-2)
    low, high = flat.min(-1, keepdim=True).values, flat.max(-1, keepdim=True).values
    spread = high - low
    scaled = torch.where(spread > eps, (flat - low) / spread.clamp(min=eps),
                         torch.full_like(flat, 0.5))
    return scaled.reshape(maps.shape)


def otsu_thresholds(maps, bins=32, chunk=4096):
    """Otsu's threshold of each (H, W) map of (..., H, W) with values in [0, 1]."""
    flat = maps.flatten(-2).clamp(0, 1)
    rows = flat.reshape(-1, flat.shape[-1])
    # Chunks keep the (maps, bins, cells) comparison table small.
    parts = [_otsu(rows[s:s + chunk], bins) for s in range(0, len(rows), chunk)]
    return torch.cat(parts).reshape(flat.shape[:-1])


def _otsu(flat, bins):
    edges = torch.linspace(0, 1, bins + 1)[1:-1]
    above = flat[..., None, :] > edges[:, None]  # (..., T, HW)
    count = above.shape[-1]
    n_high = above.sum(-1).float()
    sum_high = (flat[..., None, :] * above).sum(-1)
    total = flat.sum(-1, keepdim=True)
    n_low = count - n_high
    mean_high = sum_high / n_high.clamp(min=1)
    mean_low = (total - sum_high) / n_low.clamp(min=1)
    between = n_high * n_low * (mean_high - mean_low) ** 2
    return edges[between.argmax(-1)]


def masks_from_similarity(similarity, sigma=0.7, min_fraction=0.05, max_fraction=0.7):
    """Binary masks (..., H, W) from similarity maps: smooth, normalise, Otsu threshold.

    The share of each map marked is kept within [min_fraction, max_fraction] (a caption that
    names a word means the word covers some of the image, rarely nearly all of it). Ties can
    pass `max_fraction`: a flat map marks every cell.
    """
    normalised = normalise_maps(gaussian_smooth(similarity, sigma))
    flat = normalised.flatten(-2)
    threshold = otsu_thresholds(normalised)[..., None]
    cells = flat.shape[-1]
    ranked = flat.sort(-1, descending=True).values
    low_k = max(1, int(round(min_fraction * cells))) - 1
    high_k = max(1, int(round(max_fraction * cells))) - 1
    # At least the top min_fraction, at most the top max_fraction of cells.
    threshold = torch.minimum(threshold, ranked[..., low_k:low_k + 1])
    threshold = torch.maximum(threshold, ranked[..., high_k:high_k + 1])
    return (flat >= threshold).float().reshape(normalised.shape)


def pseudo_labels(similarity, positive, negative, negative_weight=0.3, **mask_options):
    """Targets and weights (N, K, H, W) for per-location binary cross-entropy.

    Args:
        similarity: (N, K, H, W) cosine of each location to each word.
        positive, negative: (N, K) bool (from `caption_labels`).
        negative_weight: weight of the all-background maps of negative words.
        **mask_options: passed to `masks_from_similarity`.
    """
    positive = torch.as_tensor(positive, dtype=torch.bool)
    negative = torch.as_tensor(negative, dtype=torch.bool) & ~positive
    masks = masks_from_similarity(similarity, **mask_options)
    targets = masks * positive[..., None, None]
    weights = positive.float() + negative_weight * negative.float()
    return targets, weights[..., None, None].expand_as(targets).contiguous()


def cell_labels(similarity, positive, **mask_options):
    """One word a location (N, H, W) for a per-location softmax loss; -1 where none.

    Each location takes, among the image's positive words whose mask covers it, the word whose
    normalised smoothed map is highest there.
    """
    positive = torch.as_tensor(positive, dtype=torch.bool)[..., None, None]
    masks = masks_from_similarity(similarity, **mask_options).bool() & positive
    sigma = mask_options.get("sigma", 0.7)
    score = normalise_maps(gaussian_smooth(similarity, sigma)).masked_fill(~masks, -1.0)
    best, labels = score.max(dim=1)
    return labels.masked_fill(best < 0, -1)
