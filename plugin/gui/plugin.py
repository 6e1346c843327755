"""The plugin object QGIS creates: registers the Processing provider, adds toolbar and menu."""

from qgis.core import QgsApplication
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QMessageBox

from ..processing.provider import ICON_PATH, TerraLensProvider

MENU_NAME = "&TerraLens"
TOOLBAR_NAME = "TerraLens"


class TerraLensPlugin:
    """QGIS plugin object; works with `iface=None` (qgis_process calls only initProcessing)."""

    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self.toolbar = None
        self.actions = []

    def initProcessing(self):  # noqa: N802 (name fixed by QGIS)
        """Register the `terralens` provider once."""
        if self.provider is None:
            self.provider = TerraLensProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        """Register Processing, then add the TerraLens toolbar and menu."""
        self.initProcessing()
        if self.iface is None:
            return
        self.toolbar = self.iface.addToolBar(TOOLBAR_NAME)
        self.toolbar.setObjectName("TerraLensToolbar")
        self._add_action("About TerraLens", self.show_about)

    def _add_action(self, text, callback):
        action = QAction(QIcon(str(ICON_PATH)), text, self.iface.mainWindow())
        action.triggered.connect(callback)
        self.toolbar.addAction(action)
        self.iface.addPluginToRasterMenu(MENU_NAME, action)
        self.actions.append(action)
        return action

    def show_about(self):
        """Say what the plugin does and where its algorithms are."""
        QMessageBox.information(
            self.iface.mainWindow(),
            "TerraLens",
            "TerraLens asks rasters questions in words. Its algorithms are in the "
            "Processing toolbox under 'TerraLens'.",
        )

    def unload(self):
        """Remove everything initGui and initProcessing added."""
        for action in self.actions:
            if self.iface is not None:
                self.iface.removePluginRasterMenu(MENU_NAME, action)
            action.deleteLater()
        self.actions = []
        if self.toolbar is not None:
            self.toolbar.deleteLater()
            self.toolbar = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
