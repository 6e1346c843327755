"""The plugin zip passes the QGIS plugin repository's rules."""

import configparser
import zipfile

import pytest

REQUIRED_METADATA = ("name", "qgisMinimumVersion", "qgisMaximumVersion", "description", "about",
                     "version", "author", "email", "repository", "tracker", "icon",
                     "hasProcessingProvider")


@pytest.fixture(scope="module")
def metadata(repo_root):
    parser = configparser.ConfigParser()
    parser.read(repo_root / "metadata.txt")
    return parser["general"]


@pytest.fixture(scope="module")
def plugin_zip(repo_root, metadata):
    path = repo_root / "dist" / f"terralens-{metadata['version']}.zip"
    if not path.is_file():
        pytest.fail(f"{path} missing: run `make zip` first (make test does)")
    return zipfile.ZipFile(path)


def test_metadata_has_required_fields(metadata, repo_root):
    missing = [key for key in REQUIRED_METADATA if not metadata.get(key, "").strip()]
    assert not missing
    assert metadata["qgisMinimumVersion"] == "3.22"
    assert metadata["qgisMaximumVersion"] == "4.99"
    assert metadata["hasProcessingProvider"] == "yes"
    assert (repo_root / metadata["icon"]).is_file()


def test_zip_has_one_top_folder_named_terralens(plugin_zip):
    tops = {name.split("/")[0] for name in plugin_zip.namelist()}
    assert tops == {"terralens"}


def test_zip_has_entry_files_and_licence(plugin_zip, metadata):
    names = set(plugin_zip.namelist())
    for required in ("metadata.txt", "__init__.py", "LICENSE", metadata["icon"]):
        assert f"terralens/{required}" in names


def test_zip_has_no_junk_or_development_files(plugin_zip):
    for name in plugin_zip.namelist():
        assert "__pycache__" not in name and not name.endswith(".pyc"), name
        assert "/.git/" not in name and not name.startswith("terralens/.git"), name
        assert not name.startswith(("terralens/training/", "terralens/tests/")), name


def test_zip_is_under_25_mb(plugin_zip):
    assert sum(info.compress_size for info in plugin_zip.infolist()) < 25 * 1024 * 1024
    assert plugin_zip.fp is not None and plugin_zip.fp.seek(0, 2) < 25 * 1024 * 1024


def test_zip_leaves_model_bundles_to_model_packs(plugin_zip):
    bundled = [n for n in plugin_zip.namelist() if n.startswith("terralens/models/")
               and n.count("/") > 2]
    assert bundled == []


def test_default_model_pack_installs_and_loads(repo_root, tmp_path):
    from terralens.plugin.core.encoders import load_model
    from terralens.plugin.core.registry import DEFAULT_BUNDLE_ID, install_model_pack

    pack = repo_root / "dist" / f"terralens-model-{DEFAULT_BUNDLE_ID}.zip"
    if not pack.is_file():
        pytest.fail(f"{pack} missing: `make zip` builds it once `make setup` built text.onnx")
    names = zipfile.ZipFile(pack).namelist()
    for required in ("bundle.json", "image.onnx", "text.onnx", "MODEL_CARD.md"):
        assert f"{DEFAULT_BUNDLE_ID}/{required}" in names
    folder, bundle = install_model_pack(pack, tmp_path / "models")
    model = load_model(folder)
    assert model.text.encode(["a remote sensing image of a forest."]).shape == (
        1, bundle.embedding_dim)
