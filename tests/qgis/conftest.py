"""An offscreen QGIS application with Processing initialised, shared by the QGIS-tier tests."""

import os
import sys

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
PROCESSING_PLUGINS = "/usr/share/qgis/python/plugins"


@pytest.fixture(scope="session")
def qgis_app(tmp_path_factory):
    """Start QGIS once per session (GUI-enabled so that toolbars and dialogs can be built)."""
    from qgis.core import QgsApplication

    profile = tmp_path_factory.mktemp("qgis-profile")
    app = QgsApplication([], True, str(profile))
    QgsApplication.setPrefixPath("/usr", True)
    app.initQgis()
    if PROCESSING_PLUGINS not in sys.path:
        sys.path.append(PROCESSING_PLUGINS)
    from processing.core.Processing import Processing

    Processing.initialize()
    yield app
    # exitQgis() at interpreter shutdown crashes some QGIS 3.22 builds; let the process end it.


@pytest.fixture
def stub_iface(qgis_app):
    """A minimal `iface`: a real main window, toolbars, and a record of raster-menu entries."""
    from qgis.PyQt.QtWidgets import QMainWindow

    class StubIface:
        def __init__(self):
            self.window = QMainWindow()
            self.raster_menu = {}

        def mainWindow(self):
            return self.window

        def addToolBar(self, name):
            return self.window.addToolBar(name)

        def addPluginToRasterMenu(self, menu, action):
            self.raster_menu.setdefault(menu, []).append(action)

        def removePluginRasterMenu(self, menu, action):
            self.raster_menu[menu].remove(action)
            if not self.raster_menu[menu]:
                del self.raster_menu[menu]

    return StubIface()
