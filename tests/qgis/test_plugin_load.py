"""The plugin loads in QGIS: classFactory, Processing provider, toolbar and menu, unload."""

from qgis.core import QgsApplication
from qgis.PyQt.QtWidgets import QToolBar

import terralens


def provider_ids():
    return [p.id() for p in QgsApplication.processingRegistry().providers()]


def test_class_factory_works_without_iface(qgis_app):
    plugin = terralens.classFactory(None)
    plugin.initProcessing()
    try:
        assert "terralens" in provider_ids()
        plugin.initProcessing()  # a second call must not register twice
        assert provider_ids().count("terralens") == 1
    finally:
        plugin.unload()
    assert "terralens" not in provider_ids()


def test_init_gui_adds_toolbar_and_menu_and_unload_removes_them(qgis_app, stub_iface):
    plugin = terralens.classFactory(stub_iface)
    plugin.initGui()
    toolbars = [toolbar for toolbar in stub_iface.window.findChildren(QToolBar)
                if toolbar.windowTitle() == "TerraLens"]
    assert len(toolbars) == 1
    assert toolbars[0].actions(), "the toolbar has actions"
    assert stub_iface.raster_menu.get("&TerraLens"), "the raster menu has a TerraLens entry"
    assert "terralens" in provider_ids()

    plugin.unload()
    qgis_app.processEvents()
    assert "terralens" not in provider_ids()
    assert "&TerraLens" not in stub_iface.raster_menu
    assert plugin.toolbar is None and plugin.actions == []


def test_provider_metadata(qgis_app):
    plugin = terralens.classFactory(None)
    plugin.initProcessing()
    try:
        provider = QgsApplication.processingRegistry().providerById("terralens")
        assert provider.name() == "TerraLens"
        assert not provider.icon().isNull()
    finally:
        plugin.unload()
