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


def make_pack(path, source, top="tiny-wordpiece", extra=None):
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for file in source.iterdir():
            archive.write(file, f"{top}/{file.name}")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def test_install_model_pack_unpacks_checks_and_replaces(tmp_path, repo_root, monkeypatch):
    source = repo_root / "tests/data/tiny-wordpiece"
    models = tmp_path / "models"
    folder, bundle = registry.install_model_pack(make_pack(tmp_path / "p.zip", source), models)
    assert folder == models / "tiny-wordpiece" and bundle.id == "tiny-wordpiece"
    assert (folder / "image.onnx").is_file()
    again, _ = registry.install_model_pack(tmp_path / "p.zip", models)  # reinstall replaces
    assert again == folder and sorted(p.name for p in models.iterdir()) == ["tiny-wordpiece"]
    monkeypatch.setattr(registry, "DEFAULT_BUNDLE_ID", "tiny-wordpiece")
    monkeypatch.setattr(registry, "EMBEDDED_DIR", tmp_path / "nothing")
    assert registry.default_bundle_dir([models]) == folder


def test_bad_model_packs_are_refused_and_leave_nothing(tmp_path, repo_root):
    source = repo_root / "tests/data/tiny-wordpiece"
    models = tmp_path / "models"
    (tmp_path / "junk.zip").write_bytes(b"no zip")
    evil = make_pack(tmp_path / "evil.zip", source, extra={"../../escape.txt": "x"})
    broken = tmp_path / "broken.zip"
    import zipfile

    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("m/bundle.json", "{}")
    for pack, message in [("junk.zip", "not a model pack"), (evil, "one bundle folder"),
                          (broken, "schema_version")]:
        with pytest.raises(BundleError, match=message):
            registry.install_model_pack(tmp_path / pack, models)
    assert list(models.iterdir()) == []
    assert not (tmp_path.parent / "escape.txt").exists()


def test_a_pack_with_a_damaged_file_is_refused_and_leaves_nothing(tmp_path, repo_root):
    """A copy that went wrong keeps the zip readable, but a member fails its CRC check."""
    import zipfile

    pack = make_pack(tmp_path / "p.zip", repo_root / "tests/data/tiny-wordpiece")
    with zipfile.ZipFile(pack) as archive:
        member = archive.getinfo("tiny-wordpiece/image.onnx")
    data = bytearray(pack.read_bytes())
    middle = member.header_offset + 30 + len(member.filename) + member.compress_size // 2
    data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
    pack.write_bytes(bytes(data))
    models = tmp_path / "models"
    with pytest.raises(BundleError, match="is damaged .*nothing was installed"):
        registry.install_model_pack(pack, models)
    assert list(models.iterdir()) == []
