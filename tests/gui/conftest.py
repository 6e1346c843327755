"""Fixtures of the GUI tests: clean settings, the plugin with a stub iface, a raster, the panel."""

import importlib.util

import pytest
from qgis.core import QgsProject, QgsRasterLayer

import terralens
from terralens.plugin.common import packages
from terralens.plugin.gui.search_panel import SearchPanel
from terralens.plugin.gui.settings import Settings, save_settings


@pytest.fixture(autouse=True)
def clean_state(clean_qgis_state):
    """Every GUI test starts with no TerraLens settings, an empty project and cache."""
    yield


@pytest.fixture
def use_tiny(tiny):
    save_settings(Settings(default_bundle=tiny, batch_size=32))


@pytest.fixture
def raster(spacenet, stub_iface):
    layer = QgsRasterLayer(spacenet, "atlanta pan")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    stub_iface.active_layer = layer
    return layer


@pytest.fixture
def plugin(stub_iface):
    plugin = terralens.classFactory(stub_iface)
    plugin.initGui()
    yield plugin
    plugin.unload()


@pytest.fixture
def panel(stub_iface, raster):
    panel = SearchPanel(stub_iface, stub_iface.window)
    yield panel
    panel.disconnect_project()


@pytest.fixture
def no_onnxruntime(monkeypatch):
    """onnxruntime looks missing (Python cannot find it) for the plugin's checks."""
    real = importlib.util.find_spec
    monkeypatch.setattr(packages.importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
