"""The location encoder trainer: it learns the places it sees, exports to ONNX, bundles read it."""

import json
import shutil

import numpy as np
import onnxruntime
import pytest

from terralens.plugin.core.bundle import load_bundle
from training.location import location


def fake_points(path, scenes=8, per_scene=5, dim=32, seed=0):
    """Scenes at distinct places, each with its own image embedding direction plus noise."""
    rng = np.random.default_rng(seed)
    centres = np.stack([rng.uniform(-150, 150, scenes), rng.uniform(-60, 60, scenes)], axis=1)
    directions = rng.normal(size=(scenes, dim))
    scene = np.repeat(np.arange(scenes), per_scene)
    lonlat = centres[scene] + rng.normal(scale=0.01, size=(len(scene), 2))
    embeddings = directions[scene] + rng.normal(scale=0.1, size=(len(scene), dim))
    names = [f"patch_{i}.tif" for i in range(scenes)]
    np.savez(path, embeddings=embeddings.astype(np.float32), lonlat=lonlat.astype(np.float32),
             scene=scene.astype(np.int32), scene_names=np.asarray(names), model_id="test")
    return path


def test_training_learns_the_places_it_sees(tmp_path):
    embeddings, lonlat, scene, _ = location.load_points(fake_points(tmp_path / "p.npz"))
    encoder, curve = location.train_encoder(embeddings, lonlat, scene, list(range(8)), steps=150)
    assert curve[-1]["loss"] < 0.5 * curve[0]["loss"]
    report = location.scene_report(encoder, embeddings, lonlat, scene, list(range(8)))
    assert report["top1"] == 100.0 and report["cos_own"] > report["cos_others"]


def test_holdout_split_takes_sentinel_patches_only():
    names = [f"patch_{i}.tif" for i in range(6)] + ["spacenet.tif", "ortho.tif"]
    held = location.split_scenes(names, 3, seed=1)
    assert len(held) == 3 and all(names[i].startswith("patch_") for i in held)
    assert held == location.split_scenes(names, 3, seed=1)


def test_export_adds_a_parity_checked_location_encoder(tmp_path, repo_root):
    points = fake_points(tmp_path / "p.npz")
    location.main(["train", "--points", str(points), "--out", str(tmp_path / "run"),
                   "--steps", "20", "--holdout", "2"])
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["heldout"]["scenes"] == 2 and report["train"]["scenes"] == 6
    bundle_dir = tmp_path / "bundle"
    shutil.copytree(repo_root / "tests" / "data" / "tiny-wordpiece", bundle_dir)
    location.main(["export", "--checkpoint", str(tmp_path / "run" / "location.pt"),
                   "--bundle", str(bundle_dir), "--prior-weight", "0.25"])
    bundle = load_bundle(bundle_dir)
    assert bundle.location.prior_weight == 0.25
    assert bundle.provenance["location"]["parity"]["min"] >= 0.999
    session = onnxruntime.InferenceSession(str(bundle_dir / "location.onnx"),
                                           providers=["CPUExecutionProvider"])
    out = session.run(None, {"lonlat": np.array([[10.0, 50.0]] * 3, np.float32)})[0]
    assert out.shape == (3, 32)


def test_export_refuses_a_bundle_of_another_size(tmp_path, repo_root):
    location.main(["train", "--points", str(fake_points(tmp_path / "p.npz", dim=16)),
                   "--out", str(tmp_path / "run"), "--steps", "5"])
    bundle_dir = tmp_path / "bundle"
    shutil.copytree(repo_root / "tests" / "data" / "tiny-wordpiece", bundle_dir)
    with pytest.raises(ValueError, match="16.*32|32.*16"):
        location.main(["export", "--checkpoint", str(tmp_path / "run" / "location.pt"),
                       "--bundle", str(bundle_dir)])
    assert not (bundle_dir / "location.onnx").exists()
