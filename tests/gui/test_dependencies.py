"""Missing onnxruntime: the warning, the Install button, the command, the same hint headless."""

import sys

import pytest
from gui_steps import bar_texts, wait_for
from qgis.core import (
    QgsProcessingException,
)
from qgis.PyQt.QtWidgets import QPushButton

import terralens
from terralens.plugin.core import registry
from terralens.plugin.core.onnx_session import INSTALL_HINT
from terralens.plugin.gui import dependencies


def test_missing_onnxruntime_warns_with_an_install_button(no_onnxruntime, plugin, stub_iface):
    texts = bar_texts(stub_iface)
    assert len(texts) == 1 and texts[0].startswith(INSTALL_HINT)
    assert "-m pip install --user onnxruntime" in texts[0] and '"numpy<' in texts[0]
    buttons = [b.text() for b in stub_iface.message_bar.findChildren(QPushButton)]
    assert "Install" in buttons


def test_plugin_without_missing_packages_shows_no_warning(plugin, stub_iface):
    assert bar_texts(stub_iface) == []


@pytest.mark.parametrize("code, expected", [("print('ok')", "onnxruntime is installed"),
                                            ("import sys; sys.exit(3)", "pip failed (exit 3)")])
def test_install_button_runs_pip_in_a_task_and_reports(no_onnxruntime, monkeypatch, plugin,
                                                       stub_iface, code, expected):
    monkeypatch.setattr(dependencies, "install_command", lambda: [sys.executable, "-c", code])
    button = [b for b in stub_iface.message_bar.findChildren(QPushButton)
              if b.text() == "Install"][0]
    button.click()
    wait_for(lambda: any(expected in text for text in bar_texts(stub_iface)))


def test_install_command_uses_qgis_python_and_keeps_numpy_major():
    command = dependencies.install_command()
    assert command[1:5] == ["-m", "pip", "install", "--user"]
    assert "onnxruntime" in command and command[-1].startswith("numpy<")


def test_processing_says_the_same_install_hint(monkeypatch, qgis_app, tiny, spacenet):
    import processing

    plugin = terralens.classFactory(None)
    plugin.initProcessing()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    monkeypatch.setattr(registry, "_cache", {})
    try:
        with pytest.raises(QgsProcessingException) as raised:
            processing.run("terralens:textsearch", {"INPUT": [spacenet], "QUERY": "roads",
                                                    "MODEL": tiny, "OUTPUT": "TEMPORARY_OUTPUT"})
    finally:
        plugin.unload()
    assert INSTALL_HINT in str(raised.value)
    assert dependencies.missing_message().startswith(INSTALL_HINT)
