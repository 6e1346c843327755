"""Transductive refinement: deterministic, better than inductive on clear clusters, edge cases."""

import numpy as np
import pytest
from synthetic_embeddings import accuracy, clustered, unit

from terralens.plugin.core import knn_graph, transductive
from terralens.plugin.core.labels import label_probabilities


@pytest.mark.parametrize("seed", range(8))
def test_never_worse_than_inductive_on_clear_clusters(seed):
    tiles, texts, truth = clustered(600, 6, 32, spread=0.6, text_noise=2.5, seed=seed)
    inductive = label_probabilities(tiles, texts, 10.0)
    result = transductive.refine(tiles.astype(np.float16), inductive)
    assert result.ran and result.exact_graph
    assert accuracy(result.probabilities, truth) > accuracy(inductive, truth)
    assert result.changed == int(np.sum(np.argmax(result.probabilities, 1)
                                        != np.argmax(inductive, 1)))
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_much_better_where_the_text_is_roughly_right():
    tiles, texts, truth = clustered(600, 6, 32, spread=0.6, text_noise=2.5, seed=0)
    inductive = label_probabilities(tiles, texts, 10.0)
    refined = transductive.refine(tiles, inductive).probabilities
    assert accuracy(inductive, truth) < 0.86 and accuracy(refined, truth) > 0.94


@pytest.mark.parametrize("exact_limit", [knn_graph.EXACT_LIMIT, 0])
def test_deterministic(exact_limit):
    tiles, texts, _ = clustered(900, 5, 24, spread=0.8, text_noise=1.0, seed=3)
    inductive = label_probabilities(tiles, texts, 10.0)
    settings = transductive.RefineSettings(exact_graph_limit=exact_limit)
    first = transductive.refine(tiles.astype(np.float16), inductive, settings)
    second = transductive.refine(tiles.astype(np.float16), inductive.copy(), settings)
    assert first.exact_graph is (exact_limit > 0)
    np.testing.assert_array_equal(first.probabilities, second.probabilities)


def test_one_tile_is_left_as_it_is():
    probabilities = np.array([[0.2, 0.7, 0.1]], np.float32)
    result = transductive.refine(np.ones((1, 8), np.float16) / 8 ** .5, probabilities)
    assert not result.ran and result.changed == 0
    np.testing.assert_array_equal(result.probabilities, probabilities)


def test_two_labels_and_few_tiles():
    tiles, texts, truth = clustered(7, 2, 16, spread=0.3, text_noise=0.2, seed=4)
    inductive = label_probabilities(tiles, texts, 10.0)
    result = transductive.refine(tiles, inductive)
    assert result.ran and result.probabilities.shape == (7, 2)
    assert accuracy(result.probabilities, truth) >= accuracy(inductive, truth)
    two = transductive.refine(tiles[:2], inductive[:2])
    assert two.ran and np.isfinite(two.probabilities).all()


def test_label_no_tile_prefers_is_dropped():
    tiles, texts, _ = clustered(200, 3, 16, spread=0.5, text_noise=0.3, seed=5)
    texts = np.concatenate([texts, -texts[:1]])  # a fourth label, nobody's best
    inductive = label_probabilities(tiles, texts, 10.0)
    assert not np.any(np.argmax(inductive, axis=1) == 3)
    result = transductive.refine(tiles, inductive)
    assert result.dropped_labels == 1
    assert np.all(result.probabilities[:, 3] == 0.0)


def test_one_label_or_mismatch():
    tiles = unit(np.random.default_rng(6).standard_normal((5, 8)))
    single = transductive.refine(tiles, np.ones((5, 1), np.float32))
    assert not single.ran
    with pytest.raises(ValueError, match="embeddings"):
        transductive.refine(tiles, np.ones((4, 2), np.float32) / 2)


def test_hundred_thousand_tiles():
    """10^5 tiles go through the clustered graph; the time is measured by `make bench`."""
    tiles, texts, truth = clustered(100_000, 4, 16, spread=0.5, text_noise=0.8, seed=7)
    inductive = label_probabilities(tiles, texts, 10.0)
    result = transductive.refine(tiles.astype(np.float16), inductive)
    assert result.ran and not result.exact_graph
    assert result.probabilities.shape == (100_000, 4)
    assert accuracy(result.probabilities, truth) >= accuracy(inductive, truth)


def test_known_tiles_keep_their_label_and_guide_the_rest():
    """Examples the user labelled keep their label, even one the prior calls otherwise, and
    the other tiles are labelled at least as well as without them."""
    tiles, texts, truth = clustered(600, 6, 32, spread=0.6, text_noise=2.5, seed=8)
    inductive = label_probabilities(tiles, texts, 10.0)
    known = np.full(len(tiles), -1)
    for label in range(6):
        known[np.flatnonzero(truth == label)[:3]] = label
    wrong = np.flatnonzero(truth == 0)[3]
    known[wrong] = 1  # a mislabelled example is kept too
    result = transductive.refine(tiles, inductive, known=known)
    best = np.argmax(result.probabilities, axis=1)
    assert np.all(best[known >= 0] == known[known >= 0])
    unknown = known < 0
    without = transductive.refine(tiles, inductive).probabilities
    assert accuracy(result.probabilities[unknown], truth[unknown]) >= accuracy(
        without[unknown], truth[unknown]) > accuracy(inductive[unknown], truth[unknown])


def test_a_label_only_examples_show_is_not_dropped():
    tiles, texts, truth = clustered(300, 3, 16, spread=0.5, text_noise=0.3, seed=8)
    two = label_probabilities(tiles, texts[:2], 10.0)  # the third label's text says nothing
    inductive = np.concatenate([two, np.full((len(tiles), 1), 1e-3, np.float32)], axis=1)
    inductive /= inductive.sum(axis=1, keepdims=True)
    known = np.full(len(tiles), -1)
    known[np.flatnonzero(truth == 2)[:5]] = 2
    result = transductive.refine(tiles, inductive, known=known)
    assert result.dropped_labels == 0
    assert np.all(np.argmax(result.probabilities[known == 2], axis=1) == 2)
    assert transductive.refine(tiles, inductive).dropped_labels == 1


def test_known_labels_are_checked():
    tiles = unit(np.random.default_rng(9).standard_normal((6, 8)))
    prior = np.full((6, 2), 0.5, np.float32)
    with pytest.raises(ValueError, match="known labels for 6 tiles"):
        transductive.refine(tiles, prior, known=np.zeros(5, int))
    with pytest.raises(ValueError, match="-1 or 0 to 1"):
        transductive.refine(tiles, prior, known=np.full(6, 2))


def test_scores_are_softened_without_changing_any_label():
    tiles, texts, _ = clustered(600, 6, 32, spread=0.6, text_noise=2.5, seed=1)
    inductive = label_probabilities(tiles, texts, 10.0)
    raw = transductive.refine(tiles, inductive,
                              transductive.RefineSettings(score_temperature=1.0)).probabilities
    soft = transductive.refine(tiles, inductive)
    assert soft.describe()["ran"] and transductive.RefineSettings().score_temperature == 2.6
    top3 = [np.argsort(-p, axis=1, kind="stable")[:, :3] for p in (soft.probabilities, raw)]
    np.testing.assert_array_equal(top3[0], top3[1])  # best label and runners-up
    assert soft.probabilities.max(axis=1).mean() < raw.max(axis=1).mean()
    np.testing.assert_allclose(soft.probabilities.sum(axis=1), 1.0, atol=1e-5)
    # p ** (1 / T), renormalised; zeros stay zero
    rows = np.array([[0.64, 0.36, 0.0], [1.0, 0.0, 0.0]], np.float32)
    np.testing.assert_allclose(transductive.soften(rows, 2.0),
                               [[0.8 / 1.4, 0.6 / 1.4, 0.0], [1.0, 0.0, 0.0]], atol=1e-6)
    assert transductive.soften(rows, 1.0) is rows
    with pytest.raises(ValueError, match="above 0"):
        transductive.soften(rows, 0.0)
