"""The packages folder: where it is, how it joins sys.path, QGIS's own Python, the command."""

import os
import stat
import sys
from pathlib import Path

import pytest

from terralens.plugin.common import packages


def test_folder_is_in_the_profile_and_survives_plugin_upgrades(qgis_app):
    folder = packages.packages_dir()
    assert folder.name == "terralens-packages" and folder.parent.name == "python"
    assert folder.parent.parent == Path(qgis_app.qgisSettingsDirPath())
    plugins = folder.parent / "plugins"
    assert not folder.is_relative_to(plugins)  # upgrades replace plugins/terralens only


def test_activate_appends_once_and_puts_its_own_numpy_first(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    missing = tmp_path / "nothing-here"
    assert packages.activate(missing) is None and str(missing) not in sys.path
    plain = tmp_path / "plain"
    plain.mkdir()
    assert packages.activate(plain) == str(plain) and sys.path[-1] == str(plain)
    packages.activate(plain)
    assert sys.path.count(str(plain)) == 1
    with_numpy = tmp_path / "with-numpy"
    with_numpy.mkdir()
    (with_numpy / packages.MARKER).write_text('{"numpy": "1.26.4"}')
    packages.activate(with_numpy)
    assert sys.path[0] == str(with_numpy)


def test_qgis_python_never_comes_from_path(tmp_path, monkeypatch):
    impostor = tmp_path / "python3"
    impostor.write_text("#!/bin/sh\necho 3.11.7 impostor\n")
    impostor.chmod(impostor.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(sys, "executable", str(impostor))  # what QGIS's embedded Python says
    python = packages.qgis_python()
    assert python is not None and Path(python).parent != tmp_path
    assert packages._same_python(python) and not packages._same_python(impostor)


def test_status_tells_missing_from_broken(tmp_path, monkeypatch):
    assert packages.status().ok and packages.status().version
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert packages.status().state == packages.MISSING
    broken = tmp_path / "broken"
    (broken / "onnxruntime").mkdir(parents=True)
    (broken / "onnxruntime" / "__init__.py").write_text(
        "raise ImportError('undefined symbol: PyFoo')\n")
    monkeypatch.delitem(sys.modules, "onnxruntime")
    monkeypatch.setattr(sys, "path", [str(broken)] + sys.path)
    found = packages.status()
    assert found.state == packages.BROKEN
    assert str(broken) in found.detail and "undefined symbol: PyFoo" in found.detail
    assert "does not import in QGIS's Python" in found.detail


def test_manual_command_installs_only_onnxruntime_into_the_folder(qgis_app):
    text = packages.manual_command()
    python = packages.qgis_python()
    assert text.startswith(f"{python} -m pip install --no-deps ")
    assert f"--target {packages.packages_dir()}" in text
    assert text.endswith(f'"{packages.REQUIREMENT}"') and "--user" not in text


def test_requirement_is_the_one_the_tests_run_with(repo_root):
    lines = (repo_root / "requirements" / "qgis.txt").read_text().splitlines()
    assert packages.REQUIREMENT in lines


@pytest.mark.parametrize("parts, expected", [
    (["/usr/bin/python3", "-m", "pip"], "/usr/bin/python3 -m pip"),
    (["C:\\Program Files\\QGIS\\python.exe", "numpy<2"],
     '"C:\\Program Files\\QGIS\\python.exe" "numpy<2"')])
def test_command_text_quotes_what_a_shell_needs(parts, expected):
    assert packages.command_text(parts) == expected


def test_missing_message_says_what_and_how(monkeypatch):
    assert packages.missing_message() == ""  # onnxruntime works here
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    text = packages.missing_message()
    assert text.startswith("TerraLens needs the Python package onnxruntime")
    assert "Click Install" in text and text.endswith(packages.manual_command())


@pytest.mark.parametrize("python, folder", [
    ("/usr/bin/python3", "~/.local/share/QGIS/QGIS3/profiles/default/python/terralens-packages"),
    ("python", "%APPDATA%\\QGIS\\QGIS3\\profiles\\default\\python\\terralens-packages"),
    ("/Applications/QGIS.app/Contents/MacOS/bin/python3",
     "$HOME/Library/Application Support/QGIS/QGIS3/profiles/default/python/terralens-packages")])
def test_readme_gives_the_command_the_plugin_shows(repo_root, python, folder):
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    command = packages.command_text(packages.pip_command(python, folder))
    if folder.startswith("~"):  # the shell expands ~ only unquoted
        command = command.replace(f'"{folder}"', folder)
    assert f"`{command}`" in readme
