"""Zero-shot labelling maths: label parsing, ensembles, calibrated scores, unknown."""

import numpy as np
import pytest

from terralens.plugin.core import labels


def test_parse_labels_splits_strips_and_dedupes():
    assert labels.parse_labels("forest, river\nparking  lot;Forest,,") == ["forest", "river",
                                                                       "parking lot"]


def test_double_quotes_keep_separators_inside_a_label():
    text = '"forest, dense"; water 🌊, car\'s "roof",\n "a;b" '
    assert labels.parse_labels(text) == ["forest, dense", "water 🌊", 'car\'s "roof"', "a;b"]
    assert labels.parse_labels('road, 5" pipe') == ["road", '5" pipe']  # a lone quote is text


@pytest.mark.parametrize("text", ["", "  ,\n ; ", '"", " "'])
def test_parse_labels_rejects_empty(text):
    with pytest.raises(ValueError, match="no labels"):
        labels.parse_labels(text)


def test_templates_default_and_check():
    assert labels.parse_templates(None, "a {}.") == ["a {}."]
    assert labels.parse_templates("x {}\n\ny {}", "a {}.") == ["x {}", "y {}"]
    with pytest.raises(ValueError, match="no '{}'"):
        labels.parse_templates(["a photo"], "a {}.")


class FakeText:
    """Encodes a prompt as a unit vector from a hash of its words, deterministically."""

    def encode(self, texts):
        vectors = [np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(8) for t in texts]
        vectors = np.array(vectors, np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_label_embeddings_are_unit_ensembles():
    text = FakeText()
    single = labels.label_embeddings(text, ["a", "b"], ["x {}"])
    np.testing.assert_allclose(single, text.encode(["x a", "x b"]), atol=1e-6)
    ensemble = labels.label_embeddings(text, ["a", "b"], ["x {}", "y {}"])
    np.testing.assert_allclose(np.linalg.norm(ensemble, axis=1), 1, atol=1e-6)
    expected = text.encode(["x a", "y a"]).mean(0)
    np.testing.assert_allclose(ensemble[0], expected / np.linalg.norm(expected), atol=1e-6)


def test_probabilities_rank_the_matching_label_first_and_sum_to_one():
    label_vectors = np.eye(3, 4, dtype=np.float32)
    tiles = np.array([[0.1, 0.9, 0.0, 0.1], [0.8, 0.1, 0.2, 0.0]], np.float32)
    probs = labels.label_probabilities(tiles, label_vectors, logit_scale=50)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-6)
    top = labels.top_labels(probs, ["a", "b", "c"], k=3)
    assert [t[0][0] for t in top] == ["b", "a"]
    assert all(len(t) == 3 for t in top)


def test_min_score_gives_unknown():
    probs = np.array([[0.4, 0.35, 0.25], [0.9, 0.05, 0.05]])
    top = labels.top_labels(probs, ["a", "b", "c"], k=2, min_score=0.5)
    assert top[0][0] == (labels.UNKNOWN, 0.4) and top[0][1] == ("b", 0.35)
    assert top[1][0] == ("a", 0.9)
