"""Tests of the encoder choice on AID validation images: its rule, and a run on two tiny bundles."""

import json

from training.evaluate.encoder_select import choose, main


def figures(none, swapped):
    return {"k_shot_none": {"mean": none}, "k_shot_half_swapped": {"mean": swapped}}


def test_the_rule_needs_better_features_and_no_loss_elsewhere():
    current = figures(90.0, 91.0)
    assert choose(current, figures(90.5, 91.0), 37.8, 42.2)[0]
    assert not choose(current, figures(90.0, 92.0), 37.8, 42.2)[0]  # features not better
    assert not choose(current, figures(91.0, 90.9), 37.8, 42.2)[0]  # worse with swapped text
    replace, reasons = choose(current, figures(91.0, 91.5), 37.8, 30.0)
    assert not replace and reasons[-1] == "held-out train mean recall not lower: no"
    assert len(choose(current, figures(91.0, 91.5))[1]) == 2  # no recall given: not checked


def test_command_on_two_tiny_bundles(shared_data, repo_root, tmp_path, capsys):
    tiny = repo_root / "tests" / "data"
    out = tmp_path / "choice.json"
    assert main(["--current", str(tiny / "tiny-wordpiece"), "--candidate",
                 str(tiny / "tiny-wordpiece"), "--data", str(shared_data), "--cache",
                 str(tmp_path / "cache"), "--limit", "2", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert printed["current"] == printed["candidate"]  # same bundle, same figures
    assert not printed["replace"]  # not better than itself
    assert set(printed["current"]["k_shot_none"]) == {"1", "mean"}  # k below the 2 a class
    assert all(0.0 <= printed["current"][key] <= 100.0
               for key in ("zero_shot", "zero_shot_refined"))
