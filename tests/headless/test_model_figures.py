"""tools/model_figures.py: validation steps first, held-out ones only when asked; a run records
every step, failed ones included."""

import json
import sys

import pytest


@pytest.fixture(scope="module")
def figures(repo_root):
    sys.path.insert(0, str(repo_root))
    from tools import model_figures

    return model_figures


def test_held_out_steps_run_only_when_asked_and_after_the_choice(figures, tmp_path):
    choice = figures.plan("cand", tmp_path, recalls=[42.2, 45.0])
    assert [name for name, _, _ in choice] == ["encoder_select", "score_select", "scale_select"]
    assert not any(held_out for _, _, held_out in choice)
    select = choice[0][1]
    assert select[select.index("--candidate-recall") + 1] == "45"
    # the per-model choices are recorded in the candidate's bundle before anything held out
    assert all("--write" in argv for _, argv, _ in choice[1:])
    assert "--validation" in choice[2][1] and "aid-val" in choice[2][1]
    everything = figures.plan("cand", tmp_path, held_out=True)
    assert everything[:3] == figures.plan("cand", tmp_path)
    assert all(held_out for _, _, held_out in everything[3:]) and len(everything) == 10
    assert all(str(tmp_path) not in arg or name == "mask_pictures"
               for name, argv, _ in everything for arg in argv)


def test_a_failed_step_is_recorded_and_the_rest_still_run(figures, tmp_path, capsys):
    steps = [("fails", [sys.executable, "-c", "import sys; sys.exit(3)"], False),
             ("prints", [sys.executable, "-c", "print('{\"ok\": 1}')"], True)]
    summary = figures.run_steps(steps, tmp_path)
    assert [s["returncode"] for s in summary] == [3, 0]
    assert json.loads((tmp_path / "prints.json").read_text()) == {"ok": 1}
    assert json.loads((tmp_path / "summary.json").read_text())[0]["step"] == "fails"
    assert figures.main(["--bundle", "b", "--out", str(tmp_path), "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["step"] == "encoder_select"
