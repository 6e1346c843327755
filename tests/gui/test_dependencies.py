"""onnxruntime missing or broken: the offer, its Install and Show command buttons, the install
task, and the same words under Processing. The Install crash of QGIS 3.22 after a restart is
reproduced in a real QGIS window in tests/headless/test_install.py."""

import gc
import sys

import pytest
from gui_steps import bar_texts, wait_for
from qgis.core import QgsApplication, QgsProcessingException
from qgis.PyQt.QtWidgets import QMessageBox, QPushButton

import terralens
from terralens.plugin.common import packages
from terralens.plugin.common.pip_install import InstallError
from terralens.plugin.core import registry
from terralens.plugin.gui import dependencies


def buttons(iface, text):
    return [b for b in iface.message_bar.findChildren(QPushButton) if b.text() == text]


def shown_offer(plugin):
    """The plugin's offer once its deferred check has run."""
    wait_for(lambda: plugin.offer.status is not None)
    return plugin.offer


def test_missing_onnxruntime_shows_a_short_offer_with_two_buttons(no_onnxruntime, plugin,
                                                                   stub_iface):
    shown_offer(plugin)
    texts = bar_texts(stub_iface)
    assert len(texts) == 1 and texts[0].startswith("needs onnxruntime, the engine")
    assert len(texts[0]) < 120, "the bar shows two lines: the command goes behind a button"
    assert buttons(stub_iface, "Install") and buttons(stub_iface, "Show command")
    assert packages.manual_command() in buttons(stub_iface, "Install")[0].toolTip()


def test_working_onnxruntime_shows_nothing(plugin, stub_iface):
    assert not shown_offer(plugin).show_if_needed()
    assert bar_texts(stub_iface) == []


def test_show_command_gives_the_whole_command(no_onnxruntime, plugin, stub_iface, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append(box) or 0)
    shown_offer(plugin)
    buttons(stub_iface, "Show command")[0].click()
    text = shown[0].text()
    assert text == packages.missing_message() and text.endswith(packages.manual_command())
    assert shown[0].detailedText() == packages.manual_command()


def test_install_reports_success_and_closes_the_offer(no_onnxruntime, plugin, stub_iface):
    offer = shown_offer(plugin)
    offer.installer = lambda control: {"onnxruntime": "1.23.2", "numpy": ""}
    buttons(stub_iface, "Install")[0].click()
    wait_for(lambda: any("is installed" in t for t in bar_texts(stub_iface)))
    assert bar_texts(stub_iface) == [
        f"onnxruntime 1.23.2 is installed in {packages.packages_dir()}: TerraLens is ready."]


def test_failed_install_says_pip_s_line_and_offers_again(no_onnxruntime, plugin, stub_iface):
    offer = shown_offer(plugin)
    line = "pip failed: ERROR: No matching distribution found for onnxruntime>=1.17,<1.24"

    def failing(control):
        raise InstallError(line, details="the whole pip output")

    offer.installer = failing
    buttons(stub_iface, "Install")[0].click()
    wait_for(lambda: offer.task is None)
    assert f"Installing onnxruntime failed: {line}" in bar_texts(stub_iface)
    assert buttons(stub_iface, "Install")[0].isEnabled()


def test_click_after_dismissing_and_showing_again_does_not_crash(no_onnxruntime, plugin,
                                                                stub_iface):
    offer = shown_offer(plugin)
    stub_iface.message_bar.popWidget(offer.item)  # the user closes the message
    QgsApplication.processEvents()
    plugin.unload()  # a plugin restart
    again = terralens.classFactory(stub_iface)
    again.initGui()
    try:
        offer = shown_offer(again)
        offer.installer = lambda control: {"onnxruntime": "1.23.2"}
        for _ in range(3):
            gc.collect()
            QgsApplication.processEvents()
        buttons(stub_iface, "Install")[-1].click()
        wait_for(lambda: any("is installed" in t for t in bar_texts(stub_iface)))
    finally:
        again.unload()


def test_a_broken_onnxruntime_is_offered_again(plugin, stub_iface, monkeypatch):
    broken = packages.DependencyStatus(packages.BROKEN, "onnxruntime in /x does not import "
                                                        "in QGIS's Python 3.11: bad wheel")
    monkeypatch.setattr(packages, "status", lambda: broken)
    shown_offer(plugin)
    assert bar_texts(stub_iface)[0].startswith("cannot load onnxruntime")
    assert "bad wheel" in bar_texts(stub_iface)[0] and buttons(stub_iface, "Install")


def test_processing_says_the_same_words_and_command(monkeypatch, qgis_app, tiny, spacenet):
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
    assert str(raised.value) == packages.missing_message()
    assert "onnxruntime is not installed" in str(raised.value)
    assert dependencies.missing_packages() == ["onnxruntime"]
