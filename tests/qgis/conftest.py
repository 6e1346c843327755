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
    """A minimal `iface`: a real main window with a map canvas and a message bar, toolbars,
    dock widgets, a settable active layer and a record of raster-menu entries."""
    from qgis.gui import QgsMapCanvas, QgsMessageBar
    from qgis.PyQt.QtWidgets import QMainWindow, QVBoxLayout, QWidget

    class StubIface:
        def __init__(self):
            self.window = QMainWindow()
            central = QWidget(self.window)
            layout = QVBoxLayout(central)
            self.message_bar = QgsMessageBar(central)
            self.canvas = QgsMapCanvas(central)
            layout.addWidget(self.message_bar)
            layout.addWidget(self.canvas)
            self.window.setCentralWidget(central)
            self.window.resize(1000, 700)
            self.raster_menu = {}
            self.active_layer = None

        def mainWindow(self):
            return self.window

        def mapCanvas(self):
            return self.canvas

        def messageBar(self):
            return self.message_bar

        def activeLayer(self):
            return self.active_layer

        def addToolBar(self, name):
            return self.window.addToolBar(name)

        def addDockWidget(self, area, dock):
            self.window.addDockWidget(area, dock)

        def removeDockWidget(self, dock):
            self.window.removeDockWidget(dock)

        def addPluginToRasterMenu(self, menu, action):
            self.raster_menu.setdefault(menu, []).append(action)

        def removePluginRasterMenu(self, menu, action):
            self.raster_menu[menu].remove(action)
            if not self.raster_menu[menu]:
                del self.raster_menu[menu]

    iface = StubIface()
    yield iface
    iface.window.close()
    iface.window.deleteLater()
