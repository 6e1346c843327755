"""Zero-shot labelling: labels and prompt templates to text embeddings, tiles to top-k labels."""

import re

import numpy as np

UNKNOWN = "unknown"


# One label: a "quoted" one (it may hold separators) or text up to a comma, semicolon or new line.
_LABEL = re.compile(r'[ \t]*(?:"(?P<quoted>[^"]*)"[ \t]*(?=[,;\n]|\Z)|(?P<plain>[^,;\n]*))'
                    r'(?:[,;\n]|\Z)')


def split_labels(text):
    """Split on commas, semicolons and new lines; a label in double quotes keeps its separators
    and loses the quotes ('"forest, dense"; water' -> ['forest, dense', 'water'])."""
    parts, position = [], 0
    while position < len(text):
        match = _LABEL.match(text, position)  # always advances: it ends at a separator or the end
        parts.append(match["plain"] if match["quoted"] is None else match["quoted"])
        position = match.end()
    return parts


def parse_labels(text):
    """Labels from a string (see `split_labels`), stripped, de-duplicated, order kept.

    Raises:
        ValueError: no label at all.
    """
    parts = split_labels(text or "")
    labels = []
    for part in parts:
        label = " ".join(part.split())
        if label and label.lower() not in (seen.lower() for seen in labels):
            labels.append(label)
    if not labels:
        raise ValueError("no labels given: type labels separated by commas or new lines, "
                         "for example 'forest, river, parking lot'")
    return labels


def parse_templates(templates, default):
    """Prompt templates (each with '{}' where the label goes); `default` when none is given.

    Raises:
        ValueError: a template without '{}'.
    """
    if isinstance(templates, str):
        templates = [t for t in templates.split("\n") if t.strip()]
    templates = [t.strip() for t in (templates or []) if t.strip()] or [default]
    bad = [t for t in templates if "{}" not in t]
    if bad:
        raise ValueError(f"prompt template {bad[0]!r} has no '{{}}' where the label goes, "
                         "for example 'a satellite image of {}.'")
    return templates


def label_embeddings(text_encoder, labels, templates):
    """One unit vector per label: the mean over templates of the prompt embeddings (an ensemble).

    With a single template this is simply that prompt's embedding.
    """
    prompts = [template.format(label) for label in labels for template in templates]
    embeddings = text_encoder.encode(prompts).reshape(len(labels), len(templates), -1)
    mean = embeddings.mean(axis=1)
    return (mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)).astype(
        np.float32)


def label_probabilities(image_embeddings, label_vectors, logit_scale, prior=None):
    """Softmax over labels of the scaled cosine similarities, (tiles, labels).

    `prior` (tiles, labels), e.g. a location prior, is added to the cosines before scaling.

    The model's learned `logit_scale` is the temperature it was trained with, so the softmax is
    its calibrated belief among the given labels (not an absolute presence probability).
    """
    similarities = image_embeddings @ label_vectors.T
    if prior is not None:
        similarities = similarities + prior
    logits = float(logit_scale) * similarities
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def top_labels(probabilities, labels, k=3, min_score=0.0):
    """Per tile, the `k` best (label, score) pairs; a tile whose best score is below `min_score`
    gets `unknown` as its first label (its runners-up stay as they are)."""
    k = max(1, min(int(k), len(labels)))
    order = np.argsort(-probabilities, axis=1)[:, :k]
    results = []
    for row, best in zip(probabilities, order):
        pairs = [(labels[i], float(row[i])) for i in best]
        if pairs[0][1] < min_score:
            pairs[0] = (UNKNOWN, pairs[0][1])
        results.append(pairs)
    return results
