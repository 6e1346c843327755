"""Seeded synthetic tile embeddings with known classes, for the refinement and graph tests."""

import numpy as np


def unit(vectors):
    return (vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)).astype(np.float32)


def clustered(tiles, labels, dim, spread, text_noise, seed):
    """Tiles around one centre a label (clear clusters), and label texts that point only
    roughly at the centres, so the inductive labels are often wrong."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((labels, dim)))
    truth = np.arange(tiles) % labels
    tiles_vectors = unit(centres[truth] + spread * rng.standard_normal((tiles, dim)) / dim ** .5)
    texts = unit(centres + text_noise * rng.standard_normal((labels, dim)) / dim ** .5)
    return tiles_vectors, texts, truth


def accuracy(probabilities, truth):
    return float(np.mean(np.argmax(probabilities, axis=1) == truth))
