"""Bundle discovery and the loaded-model cache."""

import shutil

import pytest

from terralens.plugin.core import registry
from terralens.plugin.core.bundle import BundleError


def test_user_folders_are_listed_with_problems(tmp_path, repo_root):
    shutil.copytree(repo_root / "tests/data/tiny-wordpiece", tmp_path / "good")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "bundle.json").write_text("{not json")
    found = registry.available_bundles([tmp_path])
    by_problem = {problem is None: item for item, problem in found}
    assert by_problem[True].id == "tiny-wordpiece"
    assert "not valid JSON" in [p for _, p in found if p][0]


def test_cached_model_is_reused_until_a_file_changes(tmp_path, repo_root):
    folder = shutil.copytree(repo_root / "tests/data/tiny-wordpiece", tmp_path / "m")
    first = registry.cached_model(folder)
    assert registry.cached_model(folder) is first
    (folder / "MODEL_CARD.md").write_text("changed")
    assert registry.cached_model(folder) is not first


def test_missing_default_model_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "EMBEDDED_DIR", tmp_path)
    with pytest.raises(BundleError, match="choose a model bundle folder"):
        registry.default_bundle_dir()
