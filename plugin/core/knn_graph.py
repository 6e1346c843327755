"""A k-nearest-neighbour graph of unit embeddings: exact in blocks, or through k-means clusters.

Up to `EXACT_LIMIT` tiles every pair is compared, a block of rows at a time. Above it the
tiles are clustered (the inverted file of `index.Clusters`) and each tile looks for its
neighbours only among the tiles of the `PROBE_CLUSTERS` clusters nearest to its own, at most
`MAX_CANDIDATES` of them, so time and memory grow linearly with the tile count.
"""

from dataclasses import dataclass

import numpy as np

from .index import Clusters

EXACT_LIMIT = 8192
BLOCK_ELEMENTS = 1 << 22  # similarities held at once (16 MB of float32)
PROBE_CLUSTERS = 4
MAX_CANDIDATES = 2048
CLUSTER_SAMPLE = 16384  # tiles the k-means centroids are fitted on


@dataclass
class NeighbourGraph:
    """Each tile's `k` most similar other tiles and the cosine similarity to each.

    A tile with fewer than `k` candidates points at itself with weight 0 in the spare slots.
    """

    neighbours: np.ndarray  # (tiles, k) int64
    weights: np.ndarray  # (tiles, k) float32, similarities clipped at 0
    exact: bool

    def propagate(self, values):
        """(W + W^T) applied to label-major `values` (labels, tiles): for each tile, what its
        neighbours say plus what the tiles that chose it as a neighbour say."""
        tiles, k = self.neighbours.shape
        out = np.zeros_like(values)
        for slot in range(k):  # W: one gather a neighbour slot
            out += self.weights[:, slot] * np.take(values, self.neighbours[:, slot], axis=1)
        sources = np.repeat(np.arange(tiles), k)
        targets, weights = self.neighbours.ravel(), self.weights.ravel()
        for label, row in enumerate(values):  # W^T: one weighted bincount a label
            out[label] += np.bincount(targets, weights=weights * row[sources], minlength=tiles)
        return out


def knn_graph(embeddings, k, exact_limit=EXACT_LIMIT):
    """The k-nearest-neighbour graph of (tiles, dim) unit embeddings (float16 or float32).

    Args:
        embeddings: unit vectors, one a tile.
        k: neighbours a tile (at most tiles - 1).
        exact_limit: up to this many tiles the graph is exact, else it goes through clusters.
    """
    tiles = len(embeddings)
    k = max(0, min(int(k), tiles - 1))
    if k == 0:
        empty = np.zeros((tiles, 0))
        return NeighbourGraph(empty.astype(np.int64), empty.astype(np.float32), True)
    if tiles <= exact_limit:
        return _exact_graph(embeddings, k)
    return _clustered_graph(embeddings, k)


def _exact_graph(vectors, k):
    tiles = len(vectors)
    neighbours = np.empty((tiles, k), np.int64)
    weights = np.empty((tiles, k), np.float32)
    columns = np.arange(tiles)
    step = max(1, BLOCK_ELEMENTS // tiles)
    for first in range(0, tiles, step):
        rows = columns[first:first + step]
        neighbours[rows], weights[rows] = _nearest(_rows(vectors, rows), rows, vectors,
                                                   columns, k)
    return NeighbourGraph(neighbours, weights, True)


def _clustered_graph(embeddings, k):
    """Neighbours searched among the tiles of the clusters nearest to each tile's cluster."""
    tiles = len(embeddings)
    order, clusters = Clusters.fit(embeddings, sample=CLUSTER_SAMPLE)
    neighbours = np.empty((tiles, k), np.int64)
    weights = np.empty((tiles, k), np.float32)
    near = np.argsort(-(clusters.centroids @ clusters.centroids.T), axis=1, kind="stable")
    for number in range(len(clusters.centroids)):
        members = np.sort(_members(order, clusters.offsets, number))
        if not len(members):
            continue
        candidates = np.sort(np.concatenate([_members(order, clusters.offsets, c)
                                             for c in near[number, :PROBE_CLUSTERS]]))
        if len(candidates) > MAX_CANDIDATES:  # a huge cluster: an even, fixed subset
            pick = np.linspace(0, len(candidates) - 1, MAX_CANDIDATES).astype(np.int64)
            candidates = candidates[pick]
        columns = _rows(embeddings, candidates)
        step = max(1, BLOCK_ELEMENTS // len(candidates))
        for first in range(0, len(members), step):
            rows = members[first:first + step]
            neighbours[rows], weights[rows] = _nearest(_rows(embeddings, rows), rows, columns,
                                                       candidates, k)
    return NeighbourGraph(neighbours, weights, False)


def _members(order, offsets, cluster):
    return order[offsets[cluster]:offsets[cluster + 1]]


def _rows(embeddings, rows):
    return np.asarray(embeddings[rows], np.float32)


def _nearest(row_vectors, rows, column_vectors, columns, k):
    """The k most similar columns of each row, itself excluded; equal scores go to the lower
    column (`columns` are sorted tile numbers), so the same input gives the same graph."""
    similarity = row_vectors @ column_vectors.T
    line = np.arange(len(rows))
    self_at = np.minimum(np.searchsorted(columns, rows), len(columns) - 1)
    is_self = columns[self_at] == rows
    similarity[line[is_self], self_at[is_self]] = -np.inf
    neighbours = np.repeat(rows[:, None], k, axis=1)
    weights = np.zeros((len(rows), k), np.float32)
    for slot in range(min(k, len(columns))):  # k is small: k passes of argmax
        best = np.argmax(similarity, axis=1)
        value = similarity[line, best]
        valid = np.isfinite(value)
        neighbours[:, slot] = np.where(valid, columns[best], rows)
        weights[:, slot] = np.where(valid, np.maximum(value, 0.0), 0.0)
        similarity[line, best] = -np.inf
    return neighbours, weights
