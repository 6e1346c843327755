"""Transductive label refinement: a raster's tiles refine their zero-shot labels together.

Zero-shot labelling scores each tile alone (inductive). Tiles that look alike mostly share a
label, so once every tile is embedded the labels can use the raster's own structure. This is
TransCLIP (Zanella et al., NeurIPS 2024), which RS-TransCLIP (El Khoury et al., ICASSP 2025)
applies to remote-sensing scenes: a Gaussian mixture over the tile embeddings (one component
a label, one diagonal covariance shared by all), a Laplacian term over the k-nearest-neighbour
graph of the tiles, and the text prediction kept as a prior (a KL penalty), optimised by block
majorise-minimise steps. With z the label assignments and y the inductive probabilities:

    z_i  <-  softmax_k( lambda log y_ik + g_ik / c + sum_j (w_ij + w_ji) z_jk / 2n )

where g is the Gaussian log-likelihood, w the graph's cosine weights, n the neighbours a tile.

TransCLIP's published zero-shot settings are kept: n = 3 neighbours, 10 outer iterations of
5 assignment steps, lambda = 1, c = 50, equal mixing weights, means initialised from the 8 most
confident tiles of each label, variance initialised to 1 / dim. The text prior is the model's
own softmax at its learned temperature (TransCLIP uses CLIP's, 100; here the bundle's
`logit_scale`). Two changes, chosen on AID validation images only (never on UC Merced or
RSSCN7), make it safer on rasters, where many offered labels are absent and tiles can be few:
1. a label's mean starts from the tiles whose inductive best label it is (TransCLIP takes the
   top 8 of all tiles, so a label no tile shows starts inside another label's cluster);
2. a label that is no tile's inductive best label is dropped (probability 0).
Tiles whose label is known (examples the user drew, `known`) keep it, as TransCLIP's few-shot
version keeps its support images: their assignments stay one-hot, their labels spread through
the graph and the Gaussian means, a label's mean starts from its known tiles, and a label with
a known tile is never dropped. Re-estimated mixing weights were tried and rejected: they
helped when most labels were absent but collapsed clusters (up to -14 points) on balanced
synthetic clusters. Known cost: labels that occur on a few stray tiles only can still take
tiles from present ones (-2 points on AID when 22 of 30 labels were absent). Under 2 tiles or
2 labels nothing is refined.

The assignments come out far surer than they are right (on UC Merced a mean best score of 90 %
for 59 % right), so the scores a user reads are softened by a temperature at the end,
z <- softmax(log z / T), which changes no label and no runner-up order. T = 2.6 is the
maximum-likelihood temperature of refined zero-shot labels of AID validation images with the
default model (version 1.2: 2.57; version 1.1: 2.54, shipped as 2.5), rounded
(`python -m training score-select`). The temperature belongs to the model: a bundle records its
own (`refine_score_temperature`, written by `score-select --write`) and `settings_for` uses it;
2.6 is for bundles that record none.
"""

import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from .index import FLOAT32_CACHE_BYTES
from .knn_graph import EXACT_LIMIT, knn_graph

BLOCK_ROWS = 16384  # embeddings converted to float32 at a time


@dataclass(frozen=True)
class RefineSettings:
    """TransCLIP's zero-shot hyperparameters (see the module docstring)."""

    neighbours: int = 3
    iterations: int = 10
    assignment_steps: int = 5
    init_tiles: int = 8
    prior_power: float = 1.0  # lambda: weight of the text prior
    divisor: float = 50.0  # c: the Gaussian term is divided by it
    exact_graph_limit: int = EXACT_LIMIT
    score_temperature: float = 2.6  # T: the scores' softening (1: as optimised)

    def describe(self):
        """The settings as a JSON-ready dict (for output metadata)."""
        return {"method": "transclip-gmm-knn", **asdict(self)}


def settings_for(bundle):
    """The default settings with the bundle's own score temperature, when it records one."""
    if bundle.refine_score_temperature is None:
        return RefineSettings()
    return replace(RefineSettings(), score_temperature=float(bundle.refine_score_temperature))


@dataclass
class Refinement:
    """The refined probabilities and what happened."""

    probabilities: np.ndarray  # (tiles, labels) float32
    ran: bool
    changed: int = 0  # tiles whose best label differs from the inductive one
    dropped_labels: int = 0  # labels that were no tile's inductive best label
    exact_graph: bool = True
    seconds: float = 0.0

    def describe(self):
        """A JSON-ready summary (no arrays)."""
        return {"ran": self.ran, "changed_tiles": self.changed,
                "dropped_labels": self.dropped_labels, "exact_graph": self.exact_graph,
                "seconds": round(self.seconds, 3)}


def refine(embeddings, probabilities, settings=None, known=None):
    """Refine per-tile label probabilities with all tiles together (deterministic).

    Args:
        embeddings: (tiles, dim) unit image embeddings, float16 or float32. Float16 ones are
            converted to one float32 copy when it fits `index.FLOAT32_CACHE_BYTES` (256 MB:
            about 166,000 tiles of 384 numbers), else a block of rows at a time.
        probabilities: (tiles, labels) inductive probabilities (rows sum to 1), e.g. from
            `labels.label_probabilities`; they are the prior.
        settings: `RefineSettings` (None: the defaults).
        known: optional (tiles,) label numbers of tiles whose label is known (-1: unknown);
            they keep it, and it guides the others.

    Returns:
        a `Refinement`; with fewer than 2 tiles or 2 labels its probabilities are the input's.
    """
    settings = settings or RefineSettings()
    started = time.perf_counter()
    prior = np.asarray(probabilities, np.float32)
    tiles, label_count = prior.shape
    if len(embeddings) != tiles:
        raise ValueError(f"{len(embeddings)} embeddings but {tiles} rows of probabilities")
    if tiles < 2 or label_count < 2:
        return Refinement(prior.copy(), ran=False)
    known = _known_labels(known, tiles, label_count)
    inductive = np.argmax(prior, axis=1)
    best = np.where(known >= 0, known, inductive)
    alive = np.bincount(best, minlength=label_count) > 0
    embeddings = _working_copy(embeddings)
    graph = knn_graph(embeddings, settings.neighbours, settings.exact_graph_limit)
    z = soften(_optimise(embeddings, prior, best, alive, graph, settings, known),
               settings.score_temperature)
    changed = int(np.count_nonzero(np.argmax(z, axis=1) != inductive))
    return Refinement(z, True, changed, int((~alive).sum()), graph.exact,
                      time.perf_counter() - started)


def soften(probabilities, temperature):
    """Rows of `probabilities` raised to 1 / `temperature` and renormalised: softmax(log p / T).

    Zeros stay zero (dropped labels, the other labels of a known tile); order within a row is
    kept, so no best label changes.
    """
    if temperature <= 0:
        raise ValueError(f"the score temperature must be above 0, got {temperature}")
    if temperature == 1.0:
        return probabilities
    logs = np.log(np.maximum(probabilities, np.finfo(np.float32).tiny)) / np.float32(temperature)
    logs -= logs.max(axis=1, keepdims=True)
    softened = np.exp(logs, out=logs)
    softened[probabilities <= 0] = 0.0
    return (softened / softened.sum(axis=1, keepdims=True)).astype(np.float32, copy=False)


def _known_labels(known, tiles, label_count):
    """(tiles,) int64 known label numbers, -1 where unknown; checked."""
    if known is None:
        return np.full(tiles, -1, np.int64)
    known = np.asarray(known, np.int64)
    if known.shape != (tiles,):
        raise ValueError(f"{known.shape} known labels for {tiles} tiles")
    if known.max(initial=-1) >= label_count or known.min(initial=-1) < -1:
        raise ValueError(f"known labels must be -1 or 0 to {label_count - 1}")
    return known


def _optimise(embeddings, prior, best, alive, graph, settings, known):
    """The block majorise-minimise iterations; returns the (tiles, labels) assignments.

    Inside, arrays are label-major (labels, tiles): the graph gathers a label's row at once.
    """
    prior = np.ascontiguousarray(prior.T)
    log_prior = settings.prior_power * np.log(np.maximum(prior, np.finfo(np.float32).tiny))
    log_prior[~alive] = -np.inf
    kept = np.flatnonzero(known >= 0)
    one_hot = np.zeros((len(prior), len(kept)), np.float32)
    one_hot[known[kept], np.arange(len(kept))] = 1.0
    means = _initial_means(embeddings, prior, best, alive, settings.init_tiles, known)
    variance = np.full(embeddings.shape[1], 1.0 / embeddings.shape[1], np.float32)
    square_sums = _square_sums(embeddings)
    z = np.where(alive[:, None], prior, np.float32(0.0))
    z /= z.sum(axis=0, keepdims=True)
    z[:, kept] = one_hot
    for iteration in range(settings.iterations + 1):
        fixed = log_prior + _log_likelihood(embeddings, means, variance,
                                            alive) / settings.divisor
        for _ in range(settings.assignment_steps):
            z = _assign(fixed, graph, z)
            z[:, kept] = one_hot
        if iteration < settings.iterations:
            means, variance = _fit_gaussians(embeddings, z, square_sums)
    return np.ascontiguousarray(z.T, np.float32)


def _assign(fixed_logits, graph, z):
    """One assignment step: the fixed terms plus what the graph neighbours currently say."""
    neighbours = max(1, graph.neighbours.shape[1])
    logits = fixed_logits + graph.propagate(z) / np.float32(2.0 * neighbours)
    logits -= logits.max(axis=0, keepdims=True)
    np.exp(logits, out=logits)
    return logits / logits.sum(axis=0, keepdims=True)


def _working_copy(embeddings):
    """The embeddings as float32 when that copy fits `FLOAT32_CACHE_BYTES` (one conversion
    instead of one a pass), else as they are (converted a block at a time)."""
    if np.asarray(embeddings[:0]).dtype == np.float32:
        return embeddings
    if embeddings.shape[0] * embeddings.shape[1] * 4 <= FLOAT32_CACHE_BYTES:
        return np.asarray(embeddings, np.float32)
    return embeddings


def _blocks(embeddings):
    """(first row, float32 block) over the embeddings."""
    for first in range(0, len(embeddings), BLOCK_ROWS):
        yield first, np.asarray(embeddings[first:first + BLOCK_ROWS], np.float32)


def _initial_means(embeddings, prior, best, alive, init_tiles, known):
    """Each live label's mean, unit length: the mean of its known tiles where it has some,
    else its `init_tiles` most confident tiles, weighted."""
    means = np.zeros((len(prior), embeddings.shape[1]), np.float32)
    for label in np.flatnonzero(alive):
        examples = np.flatnonzero(known == label)
        if len(examples):
            means[label] = _unit(np.asarray(embeddings[examples], np.float32).sum(axis=0))
            continue
        own = np.flatnonzero(best == label)
        top = np.sort(own[np.argsort(-prior[label, own], kind="stable")[:init_tiles]])
        weighted = np.asarray(embeddings[top], np.float32) * prior[label, top][:, None]
        means[label] = _unit(weighted.sum(axis=0))
    return means


def _square_sums(embeddings):
    total = np.zeros(embeddings.shape[1], np.float64)
    for _, block in _blocks(embeddings):
        total += (block.astype(np.float64) ** 2).sum(axis=0)
    return total


def _log_likelihood(embeddings, means, variance, alive):
    """(labels, tiles) Gaussian log-likelihood of every tile under every label, up to a
    per-tile constant.

    With one diagonal covariance shared by all labels, -|x - m|^2 / 2v differs between labels
    only by x.(m / v) - |m|^2 / 2v, so one matrix product gives it.
    """
    scaled = means / variance
    offset = 0.5 * (means * scaled).sum(axis=1, keepdims=True)
    out = np.empty((len(means), len(embeddings)), np.float32)
    for first, block in _blocks(embeddings):
        out[:, first:first + len(block)] = scaled @ block.T - offset
    out[~alive] = 0.0  # their prior is -inf already
    return out


def _fit_gaussians(embeddings, z, square_sums):
    """Unit means and the shared diagonal variance from the soft assignments."""
    weighted = np.zeros((len(z), embeddings.shape[1]), np.float64)
    for first, block in _blocks(embeddings):
        weighted += z[:, first:first + len(block)] @ block
    counts = z.sum(axis=1, dtype=np.float64)
    means = _unit(weighted / np.maximum(counts, 1e-12)[:, None])
    # sum_i sum_k z_ki (x_i - m_k)^2 per dimension, from sums already at hand
    spread = square_sums - 2.0 * (means * weighted).sum(axis=0) + (
        counts[:, None] * means ** 2).sum(axis=0)
    variance = np.maximum(spread / z.shape[1], 1e-8).astype(np.float32)
    return means.astype(np.float32), variance


def _unit(vectors):
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norm, 1e-12)
