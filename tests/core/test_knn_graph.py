"""Nearest-neighbour graphs of tile embeddings: exact, through clusters, symmetrised."""

import numpy as np
from synthetic_embeddings import clustered, unit

from terralens.plugin.core import knn_graph


def test_exact_graph_matches_brute_force():
    tiles = unit(np.random.default_rng(8).standard_normal((300, 12)))
    graph = knn_graph.knn_graph(tiles, 3)
    similarity = tiles @ tiles.T
    np.fill_diagonal(similarity, -np.inf)
    expected = np.argsort(-similarity, axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(graph.neighbours, expected)
    np.testing.assert_allclose(graph.weights, np.maximum(
        np.take_along_axis(similarity, expected, 1), 0), atol=1e-6)


def test_clustered_graph_finds_most_true_neighbours():
    tiles, _, _ = clustered(20_000, 40, 16, spread=0.6, text_noise=0.0, seed=9)
    graph = knn_graph.knn_graph(tiles, 3, exact_limit=0)
    rows = np.arange(0, len(tiles), 97)
    similarity = tiles[rows] @ tiles.T
    similarity[np.arange(len(rows)), rows] = -np.inf
    expected = np.argsort(-similarity, axis=1)[:, :3]
    recall = np.mean([len(set(a) & set(b)) / 3 for a, b in zip(graph.neighbours[rows],
                                                                 expected)])
    assert recall > 0.9


def test_propagate_is_w_plus_w_transposed():
    tiles = unit(np.random.default_rng(10).standard_normal((50, 6)))
    graph = knn_graph.knn_graph(tiles, 3)
    dense = np.zeros((50, 50))
    for row in range(50):
        for column, weight in zip(graph.neighbours[row], graph.weights[row]):
            dense[row, column] += weight
    values = np.random.default_rng(11).random((4, 50)).astype(np.float32)  # label-major
    np.testing.assert_allclose(graph.propagate(values), values @ (dense + dense.T).T,
                               rtol=1e-5, atol=1e-6)
