"""The committed tiny bundles are exactly what `training.make_tiny_bundles` makes."""

import json

import numpy as np
import onnxruntime
import pytest

from training.fixtures import tiny_bundles as make_tiny_bundles

BUNDLES = ["tiny-wordpiece", "tiny-clip", "tiny-sensors"]
SENSOR_FILES = {"tiny-sensors": {"adapter_pan.onnx", "adapter_s2.onnx", "location.onnx"}}


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    make_tiny_bundles.main(["--out", str(out)])
    return out


def run(path, feeds):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def text_feeds(bundle_id):
    ids = np.random.default_rng(1).integers(0, 30000, size=(4, 9)).astype(np.int64)
    if bundle_id == "tiny-clip":
        return {"input_ids": ids}
    mask = np.ones_like(ids)
    mask[:, 6:] = 0
    return {"input_ids": ids, "attention_mask": mask}


@pytest.mark.parametrize("bundle_id", BUNDLES)
def test_regenerated_bundle_matches_committed(bundle_id, regenerated, repo_root):
    committed = repo_root / "tests" / "data" / bundle_id
    fresh = regenerated / bundle_id
    assert json.loads((fresh / "bundle.json").read_text()) == \
        json.loads((committed / "bundle.json").read_text())
    pixels = {"pixel_values": make_tiny_bundles.test_images()}
    files = [("image.onnx", pixels), ("text.onnx", text_feeds(bundle_id))]
    if bundle_id == "tiny-sensors":
        rng = np.random.default_rng(2)
        files += [("adapter_pan.onnx", {"pixel_values": rng.random((2, 1, 8, 8), np.float32)}),
                  ("adapter_s2.onnx", {"pixel_values": rng.random((2, 12, 8, 8), np.float32)}),
                  ("location.onnx", {"lonlat": np.array([[-84.4, 33.7], [2.3, 48.9]],
                                                        np.float32)})]
    for name, feeds in files:
        for new, old in zip(run(fresh / name, feeds), run(committed / name, feeds)):
            np.testing.assert_allclose(new, old, rtol=1e-6, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("bundle_id", BUNDLES)
def test_bundle_folders_are_small(bundle_id, repo_root):
    folder = repo_root / "tests" / "data" / bundle_id
    assert {path.name for path in folder.iterdir()} == {
        "bundle.json", "image.onnx", "text.onnx", "MODEL_CARD.md"} | SENSOR_FILES.get(bundle_id,
                                                                               set())
    assert sum(path.stat().st_size for path in folder.iterdir()) < 1_000_000
    assert "random weights" in (folder / "MODEL_CARD.md").read_text()


def test_padding_is_ignored_by_the_wordpiece_model(repo_root):
    path = repo_root / "tests" / "data" / "tiny-wordpiece" / "text.onnx"
    feeds = text_feeds("tiny-wordpiece")
    changed = dict(feeds, input_ids=feeds["input_ids"].copy())
    changed["input_ids"][:, 6:] += 1  # only padded positions change
    np.testing.assert_allclose(run(path, changed)[0], run(path, feeds)[0], atol=1e-6)


def test_clip_model_pools_up_to_the_highest_id(repo_root):
    path = repo_root / "tests" / "data" / "tiny-clip" / "text.onnx"
    ids = np.array([[49406, 320, 1929, 49407, 0, 0]], np.int64)
    tail = ids.copy()
    tail[0, 4:] = 7  # after the end-of-text token: ignored
    head = ids.copy()
    head[0, 1] = 321  # before it: counts
    base = run(path, {"input_ids": ids})[0]
    np.testing.assert_allclose(run(path, {"input_ids": tail})[0], base, atol=1e-6)
    assert not np.allclose(run(path, {"input_ids": head})[0], base, atol=1e-4)


@pytest.mark.parametrize("bundle_id", BUNDLES)
def test_core_loads_bundles_without_gdal(bundle_id, repo_root):
    """The exporter's parity check loads bundles with the core here, where GDAL is absent."""
    from terralens.plugin.core.encoders import load_model
    with pytest.raises(ImportError):
        import osgeo  # noqa: F401  (the premise: this venv has no GDAL)
    model = load_model(repo_root / "tests" / "data" / bundle_id)
    assert model.image.encode_embeddings(np.zeros((1, 3, 64, 64), np.float32)).shape == (1, 32)
