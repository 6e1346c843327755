"""Installing onnxruntime as a user does, end to end: a fresh profile, the real system Python
and no PYTHONPATH; the Install button in a real QGIS window (real pip, real registry), then
qgis_process, then a plugin upgrade that finds the installed folder."""

import json
import shutil

import pytest

from terralens.plugin.common.packages import FOLDER_NAME, REQUIREMENT
from tools.headless import QgisProcess

LABELS = "LABELS=forest,buildings,road"


@pytest.fixture(scope="module")
def user_qgis(tmp_path_factory, repo_root):
    runner = QgisProcess(tmp_path_factory.mktemp("user-home"), repo_root, venv_packages=False)
    runner.enable_plugin()
    return runner


def label(runner, raster, out, check=True):
    return runner.run("run", "terralens:zeroshotlabel", "--", f"INPUT={raster}", LABELS,
                      "TILE_SIZE=128", f"OUTPUT={out}", check=check)


def test_install_click_then_qgis_process_then_upgrade(user_qgis, spacenet, tmp_path,
                                                     repo_root):
    folder = user_qgis.profile / "python" / FOLDER_NAME
    refused = label(user_qgis, spacenet, tmp_path / "before.gpkg", check=False)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "Traceback" not in said
    assert "onnxruntime is not installed" in said
    assert f"--target {folder}" in said and f'"{REQUIREMENT}"' in said
    assert not (tmp_path / "before.gpkg").exists()

    out = tmp_path / "window.json"
    user_qgis.env["TERRALENS_TEST_OUT"] = str(out)
    window = user_qgis.run_window(repo_root / "tests" / "headless" / "window_install.py")
    assert out.is_file(), f"QGIS ended with {window.returncode}:\n{window.stderr[-3000:]}"
    seen = json.loads(out.read_text())
    assert window.returncode == 0 and "failed" not in seen, seen
    assert seen["first_offer"][0].startswith("needs onnxruntime")
    assert seen["install_buttons"] >= 1
    assert any("is installed in" in text and "TerraLens is ready" in text
               for text in seen["after_install"]), seen["after_install"]
    assert seen["final_status"] == "ok" and seen["final_bar"] == []
    assert seen["onnxruntime_file"].startswith(str(folder))

    label(user_qgis, spacenet, tmp_path / "after.gpkg")
    assert (tmp_path / "after.gpkg").is_file()

    installed = (folder / "TERRALENS.json").stat().st_mtime
    upgraded = user_qgis.plugins / "terralens"
    upgraded.unlink()
    shutil.copytree(repo_root, upgraded, ignore=shutil.ignore_patterns(
        ".git", ".venv*", ".pkg", "tests", "training", ".cache", "dist", "runs", "packs"))
    metadata = upgraded / "metadata.txt"
    metadata.write_text(metadata.read_text().replace("version=0.1.0", "version=0.2.0"))
    label(user_qgis, spacenet, tmp_path / "upgraded.gpkg")
    assert (tmp_path / "upgraded.gpkg").is_file()
    assert (folder / "TERRALENS.json").stat().st_mtime == installed
