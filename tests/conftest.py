"""Fixtures shared by every test tier: the repository, the real data, tiny models, QGIS.

QGIS and GDAL are imported inside the fixtures that need them: the training tier runs in a
venv without them.
"""

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = REPO_ROOT / "tests" / "data"
SHARED_DATA = Path(os.environ.get("TERRALENS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def repo_root():
    """The checkout (the plugin folder)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data():
    """The real data folder (`../shared/data`); fail loudly rather than skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA}; set TERRALENS_SHARED_DATA")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny(repo_root):
    """Folder of the tiny random WordPiece test bundle (as a string, as QGIS takes paths)."""
    return str(repo_root / "tests" / "data" / "tiny-wordpiece")


@pytest.fixture(scope="session")
def ortho(shared_data):
    """Real drone orthophoto: 1243 x 841 RGBA, 2 cm, EPSG:32633."""
    return str(shared_data / "scenes" / "ortho_drone_small.tif")


@pytest.fixture(scope="session")
def spacenet(shared_data):
    """Real SpaceNet Atlanta tile: 900 x 900, 1 band UInt16, 0.5 m, EPSG:32616."""
    return str(shared_data / "scenes" / "spacenet_atlanta_pan.tif")


@pytest.fixture(scope="session")
def wordpiece_model(tiny):
    """The tiny WordPiece bundle, loaded (onnxruntime; the QGIS-side venv)."""
    from terralens.plugin.core.encoders import load_model

    return load_model(tiny)


@pytest.fixture(scope="session")
def clip_model(repo_root):
    """The tiny CLIP-BPE bundle, loaded."""
    from terralens.plugin.core.encoders import load_model

    return load_model(repo_root / "tests" / "data" / "tiny-clip")


@pytest.fixture(scope="session")
def sensors(repo_root):
    """The tiny bundle with other sensors' encoders (band adapters) and a location encoder."""
    from terralens.plugin.core.encoders import load_model

    return load_model(repo_root / "tests" / "data" / "tiny-sensors")


# --- QGIS (the processing and gui tiers) -----------------------------------------------------
PROCESSING_PLUGINS = "/usr/share/qgis/python/plugins"
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


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


@pytest.fixture
def clean_qgis_state(qgis_app, tmp_path, monkeypatch):
    """Own settings, an empty project and an empty index cache for a test."""
    from qgis.core import QgsProject, QgsSettings

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    QgsSettings().remove("terralens")
    yield
    QgsSettings().remove("terralens")
    QgsProject.instance().clear()
