"""Score calibration: the expected calibration error, the temperature fit, and score-select on
a tiny bundle with real AID validation images."""

import json
import shutil

import numpy as np
import pytest

from terralens.plugin.core import transductive
from terralens.plugin.core.bundle import SCHEMA_VERSION, load_bundle
from training.evaluate.calibration import best_temperature, main
from training.evaluate.tasks import expected_calibration_error, score_figures


def test_ece_is_zero_when_scores_match_accuracy_and_large_when_sure_and_wrong():
    # best score 0.75 in every row, right in 3 rows of 4
    rows = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(rows, [0, 0, 0, 1]) == pytest.approx(0.0)
    sure = np.array([[0.99, 0.01]] * 10)
    assert expected_calibration_error(sure, [1] * 10) == pytest.approx(99.0)
    # two bins: 0.95 (all right, gap 5) and 0.55 (half right, gap 5): 5 points either way
    mixed = np.array([[0.95, 0.05]] * 2 + [[0.55, 0.45]] * 2)
    assert expected_calibration_error(mixed, [0, 0, 0, 1]) == pytest.approx(5.0)
    assert score_figures(mixed, [0, 0, 0, 1]) == {"top1": 75.0, "mean_score": 75.0,
                                                   "ece": 5.0}


def test_the_temperature_that_generated_the_labels_is_found():
    """Labels drawn from softmax(logits / 2.5) while the scores say softmax(logits)."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 4.0, (4000, 6))
    scores = np.exp(logits - logits.max(1, keepdims=True))
    scores /= scores.sum(1, keepdims=True)
    truth = np.exp(logits / 2.5 - (logits / 2.5).max(1, keepdims=True))
    truth /= truth.sum(1, keepdims=True)
    labels = np.array([rng.choice(6, p=row) for row in truth])
    assert best_temperature(scores, labels) == pytest.approx(2.5, rel=0.1)
    assert best_temperature(truth, labels) == pytest.approx(1.0, rel=0.1)


def test_score_select_on_a_tiny_bundle(shared_data, repo_root, tmp_path, capsys):
    """It chooses on AID validation images and, with `--write`, records the choice in the
    bundle, where the plugin's refinement reads it."""
    out = tmp_path / "select.json"
    bundle = shutil.copytree(repo_root / "tests" / "data" / "tiny-wordpiece", tmp_path / "tiny")
    assert load_bundle(bundle).refine_score_temperature is None
    assert main(["--bundle", str(bundle), "--write",
                 "--data", str(shared_data), "--cache", str(tmp_path / "cache"), "--views", "1",
                 "--out", str(out)]) == 0
    chosen = json.loads(capsys.readouterr().out)
    assert chosen == json.loads(out.read_text())
    zero_shot = chosen["zero_shot"]
    assert chosen["validation_set"].startswith("RSICD-on-AID test split, 1,027 images")
    assert zero_shot["chosen_temperature"] == round(zero_shot["refined_best_temperature"], 1)
    assert chosen["bundle_temperature"] == transductive.RefineSettings().score_temperature
    written = load_bundle(bundle)
    assert written.refine_score_temperature == zero_shot["chosen_temperature"]
    assert written.schema_version == SCHEMA_VERSION
    assert (transductive.settings_for(written).score_temperature
            == zero_shot["chosen_temperature"])
    softened, optimised = zero_shot["refined_softened"], zero_shot["refined_as_optimised"]
    assert softened["top1"] == optimised["top1"]
    assert set(chosen["labels_from_examples_check"]) == {"1_a_class", "5_a_class"}
    assert set(chosen["poor_words_check"]) == {"half swapped", "noised"}
    for check in chosen["poor_words_check"].values():
        assert check["softened"]["top1"] == check["as_optimised"]["top1"]
