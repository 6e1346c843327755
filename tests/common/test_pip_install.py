"""Installing onnxruntime with real pip, offline from wheels the tests write: swap or nothing."""

import os
import subprocess
import sys
import venv

import pytest
from fake_wheels import BROKEN, write_wheel

from terralens.plugin.common import packages, pip_install
from terralens.plugin.core.run_control import Cancelled, RunControl


@pytest.fixture
def offline_index(tmp_path, monkeypatch):
    """pip sees only the wheels in this folder (no network, no pip.conf)."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    return wheels


def leftovers(folder):
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith("."))


def test_install_swaps_in_a_checked_folder(tmp_path, offline_index, monkeypatch):
    write_wheel(offline_index, version="1.17.0")
    folder = tmp_path / "profile" / "python" / "terralens-packages"
    monkeypatch.setattr(sys, "path", list(sys.path))
    seen = []
    record = pip_install.install(RunControl(lambda f, m: seen.append(f)), folder=folder)
    assert record["onnxruntime"] == "1.17.0" and record["numpy"] == ""
    assert (folder / "onnxruntime" / "__init__.py").is_file()
    assert packages.read_marker(folder)["requirement"] == packages.REQUIREMENT
    assert str(folder) in sys.path and seen[-1] == 1.0
    assert leftovers(folder) == []
    write_wheel(offline_index, version="1.18.0")  # an upgrade replaces the folder
    assert pip_install.install(folder=folder)["onnxruntime"] == "1.18.0"
    assert not (folder / "onnxruntime-1.17.0.dist-info").exists() and leftovers(folder) == []


def test_a_wheel_that_does_not_import_is_refused_and_the_old_folder_kept(tmp_path,
                                                                        offline_index):
    folder = tmp_path / "terralens-packages"
    write_wheel(offline_index, version="1.17.0")
    pip_install.install(folder=folder)
    write_wheel(offline_index, version="1.18.0", init_source=BROKEN)
    with pytest.raises(pip_install.InstallError, match="does not import in QGIS's Python.*"
                                                      "undefined symbol: PyFoo"):
        pip_install.install(folder=folder)
    assert packages.read_marker(folder)["onnxruntime"] == "1.17.0" and leftovers(folder) == []


def test_no_network_gives_pip_s_own_line_and_the_manual_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    folder = tmp_path / "terralens-packages"
    with pytest.raises(pip_install.InstallError) as raised:
        pip_install.install(folder=folder)
    message = str(raised.value)
    assert message.startswith("pip failed: ERROR: ") and "onnxruntime" in message
    assert message.endswith(packages.manual_command()) and "Run by hand" in message
    assert "127.0.0.1" in raised.value.details
    assert not folder.exists() and leftovers(folder) == []


def test_a_python_without_pip_is_reported(tmp_path):
    bare = tmp_path / "bare"
    venv.EnvBuilder(with_pip=False).create(bare)
    python = bare / "bin" / "python"
    folder = tmp_path / "terralens-packages"
    with pytest.raises(pip_install.InstallError, match="No module named pip"):
        pip_install.install(python=str(python), folder=folder)
    assert not folder.exists() and leftovers(folder) == []


def test_cancel_stops_pip_and_leaves_nothing(tmp_path):
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    with pytest.raises(Cancelled):
        pip_install.run_pip(sleeper, RunControl(is_cancelled=lambda: True))


def test_first_error_line_is_whole():
    output = ("Looking in indexes: http://x\nWARNING: Retrying ...\n"
              "ERROR: Could not find a version that satisfies the requirement onnxruntime\n"
              "ERROR: No matching distribution found for onnxruntime\n")
    assert pip_install.first_error_line(output) == (
        "ERROR: Could not find a version that satisfies the requirement onnxruntime")
    assert pip_install.first_error_line("/usr/bin/python3: No module named pip\n") == (
        "/usr/bin/python3: No module named pip")
    assert pip_install.first_error_line("") == "no output"


@pytest.mark.parametrize("version, specifier, expected", [
    ("1.24.2", ">=1.21.6", True), ("1.21.5", ">=1.21.6", False), ("2.1.0", ">=1.21.6,<2", False),
    ("1.26.4", "", True), ("1.26.4", "==1.26.4", True)])
def test_numpy_version_checks(version, specifier, expected):
    assert pip_install.satisfies(version, specifier) is expected


def test_numpy_is_installed_only_when_qgis_s_is_too_old(tmp_path, offline_index, monkeypatch):
    staging = tmp_path / "staging"
    staging.mkdir()
    subprocess.run([sys.executable, "-m", "zipfile", "-e",
                    str(write_wheel(offline_index, requires=("numpy>=1.21.6",))), str(staging)],
                   check=True)
    assert pip_install.numpy_to_install(staging) == ""  # QGIS's numpy is recent enough
    monkeypatch.setattr(pip_install, "_numpy_version", lambda: "1.19.5")
    monkeypatch.setattr(pip_install, "numpy_major", lambda: 1)
    assert pip_install.numpy_to_install(staging) == "numpy>=1.21.6,<2"
