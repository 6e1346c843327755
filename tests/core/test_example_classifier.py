"""The few-shot classifier: prototypes with text, logistic regression, leave-one-out, bad input."""

import numpy as np
import pytest

from terralens.plugin.core import example_classifier as ec


def clusters(count_per_class, classes=3, dim=16, spread=0.35, seed=0):
    """Unit embeddings around `classes` random centres, and their labels."""
    rng = np.random.default_rng(seed)
    centres = ec.unit_rows(rng.standard_normal((classes, dim)))
    labels = np.repeat(np.arange(classes), count_per_class)
    points = centres[labels] + spread * rng.standard_normal((len(labels), dim)) / np.sqrt(dim)
    return ec.unit_rows(points), labels, centres


def test_prototypes_label_held_out_tiles_of_separate_clusters():
    points, labels, _ = clusters(40)
    support = np.concatenate([np.flatnonzero(labels == c)[:2] for c in range(3)])
    rest = np.setdiff1d(np.arange(len(labels)), support)
    model = ec.fit(points[support], labels[support], ["a", "b", "c"])
    assert model.method == ec.PROTOTYPES
    assert np.mean(model.logits(points[rest]).argmax(1) == labels[rest]) > 0.95
    probabilities = model.probabilities(points[rest].astype(np.float16))
    assert probabilities.dtype == np.float32
    assert np.allclose(probabilities.sum(1), 1.0, atol=1e-5)


def test_logistic_regression_once_every_class_has_enough_examples():
    points, labels, _ = clusters(12)
    settings = ec.ClassifierSettings(logistic_min_examples=8)
    model = ec.fit(points, labels, ["a", "b", "c"], settings=settings)
    assert model.method == ec.LOGISTIC
    assert np.mean(model.logits(points).argmax(1) == labels) == 1.0
    few = ec.fit(points[::2], labels[::2], ["a", "b", "c"], settings=settings)
    assert few.method == ec.PROTOTYPES  # 6 examples a class: below the switch


def test_reliable_text_gets_weight_and_misleading_text_little():
    points, labels, centres = clusters(6, classes=4, spread=0.9, seed=3)
    good = ec.fit(points, labels, list("abcd"), text=centres)
    wrong = ec.fit(points, labels, list("abcd"), text=centres[[1, 2, 3, 0]])
    assert good.text_weight > 5 * max(wrong.text_weight, 1.0)
    assert ec.fit(points, labels, list("abcd")).text_weight == 0.0


def test_weights_of_separable_examples_are_capped_without_changing_labels():
    """Text that names every example right drives the leave-one-out fit up (to the grid's end
    on real scenes); beyond twice the model's own temperature both weights are scaled down
    together: the same labels, less saturated scores."""
    points, labels, _ = clusters(2, classes=5, spread=1.5, seed=0)
    text = ec.unit_rows(np.stack([points[labels == c].sum(0) for c in range(5)]))
    uncapped = ec.fit(points, labels, list("abcde"), text=text,
                      settings=ec.ClassifierSettings(max_temperature_factor=1e9))
    settings = ec.settings_for(5.0)
    assert uncapped.text_weight > 2 * settings.text_temperature
    capped = ec.fit(points, labels, list("abcde"), text=text, settings=settings)
    assert capped.text_weight == pytest.approx(10.0)
    assert capped.image_weight == pytest.approx(
        uncapped.image_weight * 10.0 / uncapped.text_weight)
    tiles, _, _ = clusters(50, classes=5, spread=1.5, seed=6)
    np.testing.assert_array_equal(capped.logits(tiles).argmax(1),
                                  uncapped.logits(tiles).argmax(1))
    assert capped.probabilities(tiles).max(1).mean() < uncapped.probabilities(tiles).max(1).mean()
    assert ec.fit(points, labels, list("abcde"), text=text,
                  settings=ec.settings_for(100.0)).text_weight == uncapped.text_weight


def test_text_helps_a_single_example_a_class():
    points, labels, centres = clusters(30, classes=5, spread=1.2, seed=4)
    support = np.array([np.flatnonzero(labels == c)[0] for c in range(5)])
    rest = np.setdiff1d(np.arange(len(labels)), support)
    alone = ec.fit(points[support], labels[support], list("abcde"))
    with_text = ec.fit(points[support], labels[support], list("abcde"), text=centres)
    uncapped = ec.fit(points[support], labels[support], list("abcde"), text=centres,
                      settings=ec.ClassifierSettings(max_temperature_factor=1e9))
    assert uncapped.image_weight == ec.ClassifierSettings().image_temperature
    assert with_text.image_weight / with_text.text_weight == pytest.approx(
        uncapped.image_weight / uncapped.text_weight)
    accuracy = [np.mean(m.logits(points[rest]).argmax(1) == labels[rest])
                for m in (alone, with_text)]
    assert accuracy[1] > accuracy[0] + 0.05


def test_a_class_given_by_text_alone_is_labelled():
    points, labels, centres = clusters(10, classes=3, spread=0.5, seed=5)
    known = labels < 2
    model = ec.fit(points[known], labels[known], ["a", "b", "c"], text=centres)
    predicted = model.logits(points).argmax(1)
    assert np.mean(predicted[labels == 2] == 2) > 0.9
    assert np.mean(predicted[known] == labels[known]) > 0.9


def test_leave_one_out_counts_examples_not_tiles():
    points, labels, _ = clusters(6, classes=2, spread=0.3, seed=6)
    groups = np.arange(len(labels)) // 2  # every example covers two tiles
    report = ec.validate(points, labels, ["a", "b"], groups)
    assert report["method"] == ec.LEAVE_ONE_OUT
    assert report["examples"] == 6 and report["validated"] == 6
    assert report["per_class"]["a"] == {"examples": 3, "validated": 3, "accuracy": 100.0}


def test_a_class_with_one_example_is_not_validated():
    points, labels, _ = clusters(3, classes=2, seed=7)
    keep = np.array([0, 3, 4, 5])  # one example of class a, three of b
    report = ec.validate(points[keep], labels[keep], ["a", "b"])
    assert report["per_class"]["a"] == {"examples": 1, "validated": 0, "accuracy": None}
    assert report["validated"] == 3 and report["accuracy"] == 100.0


def test_leave_one_out_sees_overlapping_classes():
    points, labels, _ = clusters(20, classes=2, spread=6.0, seed=8)
    report = ec.validate(points, labels, ["a", "b"],
                         settings=ec.ClassifierSettings(logistic_min_examples=100))
    assert 20.0 < report["accuracy"] < 90.0  # noise: no perfect score on examples left out


def test_logistic_regression_is_cross_validated_by_example():
    points, labels, _ = clusters(10, classes=2, spread=0.3, seed=9)
    report = ec.validate(points, labels, ["a", "b"],
                         settings=ec.ClassifierSettings(logistic_min_examples=8, folds=5))
    assert report["method"] == "5-fold cross-validation"
    assert report["validated"] == 20 and report["accuracy"] == 100.0


def test_logistic_scores_are_calibrated_on_the_examples_own_cross_validation():
    """Overlapping classes, 8 examples a class (the folds' fits hold 7 and must still be the
    logistic regression): the temperature read from the examples makes the scores of new
    tiles more likely than the raw ones, and changes no label."""
    points, labels, _ = clusters(208, classes=4, spread=1.2, seed=3)
    support = np.concatenate([np.flatnonzero(labels == c)[:8] for c in range(4)])
    rest = np.setdiff1d(np.arange(len(labels)), support)
    names = ["a", "b", "c", "d"]
    model = ec.fit(points[support], labels[support], names)
    raw = ec.fit(points[support], labels[support], names,
                 settings=ec.ClassifierSettings(calibrate=False))
    assert model.method == raw.method == ec.LOGISTIC and raw.score_temperature == 1.0
    assert model.score_temperature != 1.0
    assert model.describe()["score_temperature"] == round(model.score_temperature, 3)
    np.testing.assert_array_equal(model.probabilities(points[rest]).argmax(1),
                                  raw.probabilities(points[rest]).argmax(1))
    likelihood = [ec.log_likelihood(np.log(m.probabilities(points[rest])), labels[rest])
                  for m in (model, raw)]
    assert likelihood[0] > likelihood[1]


def test_fit_and_validate_together_give_what_each_gives():
    """One cross-validation serves both the accuracy and the score temperature."""
    points, labels, _ = clusters(10, classes=3, spread=0.9, seed=4)
    names = ["a", "b", "c"]
    for count in (2, 10):  # prototypes, then the logistic regression
        chosen = np.concatenate([np.flatnonzero(labels == c)[:count] for c in range(3)])
        together, validation = ec.fit_and_validate(points[chosen], labels[chosen], names)
        alone = ec.fit(points[chosen], labels[chosen], names)
        assert together.describe() == alone.describe()
        np.testing.assert_array_equal(together.weights, alone.weights)
        assert validation == ec.validate(points[chosen], labels[chosen], names)
    assert together.method == ec.LOGISTIC


def test_fitting_is_deterministic():
    points, labels, centres = clusters(9, seed=10)
    first = ec.fit(points, labels, list("abc"), text=centres)
    again = ec.fit(points, labels, list("abc"), text=centres)
    assert np.array_equal(first.weights, again.weights)
    assert first.describe() == again.describe()


def test_bad_inputs_are_refused_with_reasons():
    points, labels, centres = clusters(2, classes=2)
    with pytest.raises(ValueError, match="at least two classes"):
        ec.fit(points[labels == 0], labels[labels == 0], ["a"])
    with pytest.raises(ValueError, match="neither examples nor text"):
        ec.fit(points[labels == 0], labels[labels == 0], ["a", "b"])
    text = np.vstack([np.zeros(centres.shape[1]), centres[1]])  # only the text-only class
    with pytest.raises(ValueError, match="text for the classes with examples"):
        ec.fit(points[labels == 0], labels[labels == 0], ["a", "b"], text=text)
    with pytest.raises(ValueError, match="no example tiles"):
        ec.fit(np.zeros((0, 16)), [], ["a", "b"])
