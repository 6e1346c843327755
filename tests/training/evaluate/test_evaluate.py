"""Tests of the evaluation command: its maths on hand-made arrays, and a quick run on real data."""

import json
import subprocess
import sys

import numpy as np
import pytest

from training.evaluate import tasks as eval_tasks
from training.evaluate.data import UCM_CLASSES, class_phrase, list_image_folder, read_captions
from training.evaluate.evaluate import main


def unit(rows):
    rows = np.asarray(rows, np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_rank_counts_and_recall_on_a_known_ranking():
    similarity = np.array([[0.9, 0.1, 0.5, 0.3],    # relevant item 1 ranks 4th
                           [0.2, 0.8, 0.1, 0.0],    # relevant item 1 ranks 1st
                           [0.7, 0.6, 0.9, 0.65]])  # best relevant (0.65) ranks 2nd
    relevant = np.array([[0, 1, 0, 0], [0, 1, 0, 0], [0, 1, 0, 1]], bool)
    ahead, tied, tied_relevant = eval_tasks.rank_counts(similarity, relevant)
    assert ahead.tolist() == [3, 0, 2] and tied.tolist() == [0, 0, 0]
    assert tied_relevant.tolist() == [1, 1, 1]
    recalls = eval_tasks.recall_at_k(ahead, tied, tied_relevant, ks=(1, 2, 3, 4))
    assert recalls == pytest.approx({"R@1": 100 / 3, "R@2": 100 / 3, "R@3": 200 / 3,
                                     "R@4": 100.0})


def test_ties_are_ordered_at_random_in_expectation():
    # A collapsed model (all scores equal) scores chance: k / items.
    counts = eval_tasks.rank_counts(np.zeros((4, 10)), np.eye(4, 10, dtype=bool))
    assert eval_tasks.recall_at_k(*counts, ks=(1, 5, 10)) == pytest.approx(
        {"R@1": 10.0, "R@5": 50.0, "R@10": 100.0})
    # Two relevant and two irrelevant items tied on top: P(hit@1) = 1/2, P(hit@2) = 5/6.
    counts = eval_tasks.rank_counts(np.array([[1.0, 1.0, 1.0, 1.0, 0.0]]),
                                    np.array([[1, 1, 0, 0, 0]], bool))
    assert eval_tasks.recall_at_k(*counts, ks=(1, 2, 3)) == pytest.approx(
        {"R@1": 50.0, "R@2": 500 / 6, "R@3": 100.0})


def test_rank_counts_rejects_a_query_without_relevant_items():
    with pytest.raises(ValueError, match="relevant"):
        eval_tasks.rank_counts(np.zeros((2, 3)), np.array([[1, 0, 0], [0, 0, 0]], bool))


def test_retrieval_recalls_both_ways():
    images = unit(np.eye(4))
    texts = unit([[1, 0, 0, 0], [1, 0.1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1],
                  [0, 0, 1, 0.5]])  # the last text is nearer image 2 but belongs to image 3
    result = eval_tasks.retrieval_recalls(images, texts, [0, 0, 1, 2, 3, 3], ks=(1, 2))
    assert result["text_to_image"] == pytest.approx({"R@1": 500 / 6, "R@2": 100.0})
    assert result["image_to_text"] == {"R@1": 100.0, "R@2": 100.0}
    assert result["mean_recall"] == pytest.approx((500 / 6 + 300) / 4)


def test_identical_texts_of_different_images_tie_exactly():
    rng = np.random.default_rng(0)
    images, texts = unit(rng.normal(size=(50, 16))), unit(rng.normal(size=(50, 16)))
    texts[1::2] = texts[0::2]  # images 2i and 2i+1 share a caption
    similarity = eval_tasks.exact_similarity(images, texts)
    assert (similarity[:, 0::2] == similarity[:, 1::2]).all()
    ahead, tied, tied_relevant = eval_tasks.rank_counts(similarity, np.eye(50, dtype=bool))
    assert (tied == 1).all() and (tied_relevant == 1).all()  # the twin is a tie, never ahead
    recalls = eval_tasks.recall_at_k(ahead, tied, tied_relevant, ks=(1,))
    assert recalls["R@1"] == pytest.approx(50.0 * np.mean(ahead == 0))


def test_random_embeddings_score_near_chance():
    rng = np.random.default_rng(1)
    images, texts = unit(rng.normal(size=(400, 64))), unit(rng.normal(size=(2000, 64)))
    result = eval_tasks.retrieval_recalls(images, texts, np.repeat(np.arange(400), 5))
    assert result["text_to_image"]["R@10"] == pytest.approx(2.5, abs=1.5)


def test_accuracy_report_per_class():
    report = eval_tasks.accuracy_report([0, 1, 1, 2], [0, 1, 2, 2], ["a", "b", "c"])
    assert report == {"top1": 75.0, "per_class": {"a": 100.0, "b": 100.0, "c": 50.0}}


def test_zero_shot_with_a_prompt_ensemble():
    images = unit([[1, 0.2], [0.1, 1], [1, -0.1]])
    single = unit([[1, 0], [0, 1]])
    ensemble = eval_tasks.ensemble_class_embeddings([single, unit([[1, 1], [0, 1]])])
    assert np.allclose(np.linalg.norm(ensemble, axis=1), 1)
    assert eval_tasks.zero_shot_predictions(images, single).tolist() == [0, 1, 0]


def test_knn_folds_and_votes():
    assert eval_tasks.fold_of(7, 5).tolist() == [0, 1, 2, 3, 4, 0, 1]
    rng = np.random.default_rng(2)
    labels = np.arange(60) % 3
    centres = unit(np.eye(3, 8))
    embeddings = unit(centres[labels] + 0.05 * rng.normal(size=(60, 8)))
    report = eval_tasks.knn_report(embeddings, labels, ["a", "b", "c"], k=5, folds=5)
    assert report["top1"] == 100.0 and report["per_fold"] == [100.0] * 5


def test_knn_breaks_vote_ties_by_summed_similarity():
    # The query (item 0, fold 0) has 2 neighbours: one of class 1 (closer), one of class 2.
    embeddings = unit([[1, 0], [0.9, 0.1], [0.5, 0.5]])
    predicted = eval_tasks.knn_predictions(embeddings, [0, 1, 2], k=2, folds=3)
    assert predicted[0] == 1


def test_iou():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[:2, :2], b[:2, :] = True, True
    assert eval_tasks.iou(a, b) == 50.0
    assert np.isnan(eval_tasks.iou(np.zeros(3, bool), np.zeros(3, bool)))
    with pytest.raises(ValueError, match="shape"):
        eval_tasks.iou(a, b[:2])


def test_class_phrases(shared_data):
    assert sorted(UCM_CLASSES) == sorted(p.name for p in (shared_data / "ucm" / "images").iterdir())
    assert class_phrase("baseballdiamond") == "baseball diamond"
    assert class_phrase("river_lake") == "river lake"
    assert class_phrase("storagetanks") == "storage tanks"
    assert class_phrase("BareLand") == "bare land"
    assert class_phrase("sea-ice") == "sea ice"


def test_folder_listing_and_captions(shared_data):
    folder = list_image_folder(shared_data / "rsscn7", limit=2)
    assert len(folder.paths) == 14 and folder.labels.tolist() == [i // 2 for i in range(14)]
    captions = read_captions(shared_data / "captions_rsicd_aid.tsv", shared_data, "test", 1)
    assert len(captions.image_paths) == 30 and len(captions.captions) == 150
    assert np.bincount(captions.caption_image).tolist() == [5] * 30


def test_command_on_a_few_real_images(shared_data, repo_root, tmp_path, capsys):
    args = ["--bundle", str(repo_root / "tests" / "data" / "tiny-wordpiece"), "--limit", "2",
            "--data", str(shared_data), "--cache", str(tmp_path / "cache"), "--quiet",
            "--out", str(tmp_path / "results.json")]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "results.json").read_text())
    tasks = printed["tasks"]
    assert printed["bundle"]["id"] == "tiny-wordpiece" and printed["image_size"] == 64
    assert tasks["zeroshot"]["ucm"]["images"] == 42 and tasks["knn"]["rsscn7"]["images"] == 14
    assert tasks["retrieval"]["rsicd_aid_test"]["captions"] == 300
    scores = [tasks["zeroshot"][d][key] for d in ("ucm", "rsscn7") for key in ("top1",)]
    scores += [tasks["zeroshot"]["ucm"]["prompt_ensemble"]["top1"], tasks["iou"]["iou"]]
    scores += [tasks["knn"][d]["top1"] for d in ("ucm", "rsscn7")]
    for name in ("ucm", "rsscn7"):  # transductive beside inductive, from the same embeddings
        refined = tasks["transductive"][name]
        assert refined["images"] == tasks["zeroshot"][name]["images"]
        assert refined["inductive_top1"] == tasks["zeroshot"][name]["top1"]
        assert refined["prompt_ensemble"]["inductive_top1"] == (
            tasks["zeroshot"][name]["prompt_ensemble"]["top1"])
        assert refined["refinement"]["ran"] and refined["gain"] == pytest.approx(
            refined["top1"] - refined["inductive_top1"], abs=0.02)
        scores += [refined["top1"], refined["prompt_ensemble"]["top1"]]
        figures = refined["scores"]  # calibration: softening changes no label, only scores
        assert figures["refined"]["top1"] == figures["refined_before_softening"]["top1"]
        assert figures["refined"]["mean_score"] <= figures["refined_before_softening"][
            "mean_score"]
        assert figures["inductive"]["top1"] == pytest.approx(refined["inductive_top1"], abs=0.01)
    assert tasks["retrieval"]["ucm_captions_test"]["split"] == "test"
    assert tasks["retrieval"]["ucm_captions_test"]["images"] == 42
    for result in (tasks["retrieval"][name] for name in ("rsicd_aid_test", "ucm_captions",
                                                          "ucm_captions_test")):
        scores += [result["mean_recall"], *result["image_to_text"].values(),
                   *result["text_to_image"].values()]
    scores += [value for value in tasks["iou"]["sweep"].values() if value is not None]
    scores += [tasks["iou"]["before"]["iou"] or 0.0]
    sentinel2 = tasks["iou"]["sentinel2"]
    assert sentinel2["half"] == "test" and len(sentinel2["patches"]) == 2
    scores += [v or 0.0 for method in sentinel2["iou"].values() for v in method.values()]
    for variant in ("examples_only", "examples_and_class_names"):
        scores += [tasks["fewshot"][d][variant]["1"]["top1"] for d in ("ucm", "rsscn7")]
        assert "skipped" in tasks["fewshot"]["ucm"][variant]["5"]  # 2 images a class
    assert all(0.0 <= score <= 100.0 for score in scores)
    assert tasks["iou"]["method"] == "dense"
    assert tasks["iou"]["threshold_rule"].startswith("automatic threshold")
    # UCM's first two test-split images of a class are not its first two images: 42 more
    assert printed["image_encoder"]["images_encoded"] == 42 + 14 + 60 + 42
    main(args + ["--tasks", "knn"])  # embeddings now come from the cache
    assert json.loads(capsys.readouterr().out)["image_encoder"]["images_encoded"] == 0


def test_transductive_task_on_an_open_clip_bundle(shared_data, repo_root, tmp_path, capsys):
    """A CLIP-style bundle (BPE tokenizer, logit scale 100) is refined the same way."""
    args = ["--bundle", str(repo_root / "tests" / "data" / "tiny-clip"), "--limit", "3",
            "--data", str(shared_data), "--cache", "", "--quiet", "--tasks",
            "zeroshot,transductive"]
    assert main(args) == 0
    tasks = json.loads(capsys.readouterr().out)["tasks"]
    assert set(tasks) == {"zeroshot", "transductive"}
    refined = tasks["transductive"]["rsscn7"]
    assert refined["images"] == 21 and refined["refinement"]["ran"]
    assert refined["inductive_top1"] == tasks["zeroshot"]["rsscn7"]["top1"]
    assert 0.0 <= refined["top1"] <= 100.0


def test_views_are_cached_apart_and_recorded(shared_data, repo_root, tmp_path, capsys):
    args = ["--bundle", str(repo_root / "tests" / "data" / "tiny-wordpiece"), "--limit", "2",
            "--data", str(shared_data), "--cache", str(tmp_path / "cache"), "--quiet",
            "--tasks", "knn"]
    runs = {}
    for views in ("1", "3", "1"):
        assert main(args + ["--views", views]) == 0
        runs.setdefault(views, []).append(json.loads(capsys.readouterr().out))
    assert [run["views"] for run in runs["3"] + runs["1"]] == [3, 1, 1]
    encoded = [run["image_encoder"]["images_encoded"] for run in runs["1"] + runs["3"]]
    assert encoded == [42 + 14, 0, 42 + 14]  # 3 views were not taken from 1 view's cache
    one, three = (np.load(path) for path in sorted((tmp_path / "cache").glob("*-ucm-*.npy")))
    assert one.shape == three.shape and not np.allclose(one, three, atol=1e-3)


def test_command_rejects_unknown_tasks(repo_root):
    with pytest.raises(ValueError, match="unknown tasks"):
        main(["--bundle", str(repo_root / "tests" / "data" / "tiny-wordpiece"), "--tasks", "x"])


def test_the_evaluate_verb_runs_without_torch_from_any_folder(tmp_path):
    with pytest.raises(ImportError):
        import torch  # noqa: F401  (the premise: the QGIS venv has no torch)
    done = subprocess.run([sys.executable, "-m", "training", "evaluate", "--help"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m training evaluate")
    assert "--bundle" in done.stdout


def test_kshot_draws_fixed_examples_and_scores_the_rest():
    from training.evaluate.fewshot import draw, few_shot_report

    labels = np.repeat(np.arange(3), 10)
    first, again = draw(labels, 4, seed=0), draw(labels, 4, seed=0)
    assert np.array_equal(first, again) and len(first) == 12
    assert np.bincount(labels[first]).tolist() == [4, 4, 4]
    assert not np.array_equal(first, draw(labels, 4, seed=1))
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(3, 32)))
    images = unit(centres[labels] + 0.1 * rng.normal(size=(30, 32)))
    report = few_shot_report(images, labels, ["a", "b", "c"], centres, shots=(1, 16),
                             seeds=(0, 1))
    assert sorted(report) == ["examples_and_class_names", "examples_and_class_names_default",
                              "examples_and_class_names_refined", "examples_only",
                              "examples_only_refined"]
    for variant in report:
        assert report[variant]["1"]["top1"] == 100.0
        assert len(report[variant]["1"]["per_seed"]) == 2
        assert report[variant]["1"]["scores"]["top1"] == 100.0  # scores of all seeds pooled
        assert "skipped" in report[variant]["16"]  # 10 images a class: none left to score


def test_the_default_refines_prototypes_only():
    """The plugin's default: refined with 1 example a class (prototypes), not with 8 (the
    logistic regression)."""
    from training.evaluate.fewshot import few_shot_report

    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), 40)
    centres = unit(rng.normal(size=(3, 32)))
    images = unit(centres[labels] + 0.9 * rng.normal(size=(120, 32)))
    report = few_shot_report(images, labels, ["a", "b", "c"], centres, shots=(1, 8),
                             seeds=(0, 1))
    default = report["examples_and_class_names_default"]
    assert default["1"]["per_seed"] == report["examples_and_class_names_refined"]["1"]["per_seed"]
    assert default["8"]["per_seed"] == report["examples_and_class_names"]["8"]["per_seed"]
    assert default["8"]["method"] == "logistic regression"
    assert default["1"]["per_seed"] != report["examples_and_class_names"]["1"]["per_seed"]
