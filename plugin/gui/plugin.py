"""The plugin object QGIS creates: registers the Processing provider, adds toolbar and menu."""

from qgis.core import QgsApplication, QgsMapLayerType, QgsProject
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QMessageBox

from ..common.resources import PROVIDER_ID, RESOURCES_DIR
from ..common.result_layers import move_out_of_results_group
from ..processing.provider import TerraLensProvider

MENU_NAME = "&TerraLens"
TOOLBAR_NAME = "TerraLens"
# toolbar actions that open an algorithm's Processing dialog: (text, algorithm, icon file)
ALGORITHM_ACTIONS = (
    ("Label tiles…", "zeroshotlabel", "label.png"),
    ("Label from examples…", "labelfromexamples", "examples.png"),
    ("Search…", "textsearch", "search.png"),
    ("Segment by prompt…", "promptmask", "segment.png"),
)
MULTI_LAYER_INPUT = {"textsearch", "buildindex", "labelfromexamples"}


def plugin_version():
    """The version in metadata.txt (what the plugin manager shows)."""
    metadata = RESOURCES_DIR.parent / "metadata.txt"
    for line in metadata.read_text(encoding="utf-8").splitlines():
        if line.startswith("version="):
            return line.split("=", 1)[1].strip()
    return "unknown"


def about_text():
    """The About box: version, what TerraLens does, where things are."""
    from ..common.packages import packages_dir, status

    engine = status()
    engine_text = (f"onnxruntime {engine.version}" if engine.ok
                   else f"onnxruntime not usable: {engine.detail}")
    return (f"TerraLens {plugin_version()}\n\n"
            "Asks rasters questions in words: label tiles with your words or from a few "
            "examples, search rasters with free text or by example (Search panel), segment by "
            "prompt and find what changed between two dates. Its algorithms are also in the "
            "Processing toolbox under 'TerraLens' and run headless with qgis_process; models "
            "and settings are in Raster > TerraLens.\n\n"
            f"Engine: {engine_text} (packages folder: {packages_dir()}).")


class TerraLensPlugin:
    """QGIS plugin object; works with `iface=None` (qgis_process calls only initProcessing)."""

    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self.toolbar = None
        self.actions = []
        self.panel = None
        self.panel_action = None
        self.dialogs = []  # open algorithm dialogs (non-modal: kept alive here)
        self.offer = None  # the install offer for onnxruntime (dependencies.DependencyOffer)

    def initProcessing(self):  # noqa: N802 (name fixed by QGIS)
        """Register the `terralens` provider once."""
        if self.provider is None:
            self.provider = TerraLensProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        """Register Processing, then add the TerraLens toolbar, menu and search panel toggle."""
        self.initProcessing()
        if self.iface is None:
            return
        self.toolbar = self.iface.addToolBar(TOOLBAR_NAME)
        self.toolbar.setObjectName("TerraLensToolbar")
        for text, algorithm, icon in ALGORITHM_ACTIONS:
            self._add_action(text, icon, lambda _checked=False, a=algorithm: self.open_dialog(a))
        self.panel_action = self._add_action("Search panel", "panel.png", self.toggle_panel)
        self.panel_action.setCheckable(True)
        self._add_action("Models and settings…", "models.png", self.show_models, toolbar=False)
        self._add_action("About TerraLens", "icon.png", self.show_about, toolbar=False)
        QgsProject.instance().layerTreeRegistryBridge().addedLayersToLayerTree.connect(
            self.keep_results_group_for_results)
        from .dependencies import DependencyOffer

        self.offer = DependencyOffer(self.iface)
        # after QGIS has started: checking imports onnxruntime, which takes a moment
        QTimer.singleShot(0, self.offer.show_if_needed)

    def _add_action(self, text, icon, callback, toolbar=True):
        action = QAction(QIcon(str(RESOURCES_DIR / icon)), text, self.iface.mainWindow())
        action.setObjectName("TerraLens" + "".join(w.title() for w in text.strip("…").split()))
        action.triggered.connect(callback)
        if toolbar:
            self.toolbar.addAction(action)
        self.iface.addPluginToRasterMenu(MENU_NAME, action)
        self.actions.append(action)
        return action

    # --- actions --------------------------------------------------------------------------
    def active_raster(self):
        layer = self.iface.activeLayer()
        return layer if layer is not None and layer.type() == QgsMapLayerType.RasterLayer \
            else None

    def open_dialog(self, algorithm):
        """Open an algorithm's Processing dialog (non-modal), INPUT set to the active raster."""
        from processing.gui.AlgorithmDialog import AlgorithmDialog

        alg = QgsApplication.processingRegistry().createAlgorithmById(
            f"{PROVIDER_ID}:{algorithm}")
        dialog = AlgorithmDialog(alg, parent=self.iface.mainWindow())
        layer = self.active_raster()
        if layer is not None:
            dialog.setParameters(
                {"INPUT": [layer.id()] if algorithm in MULTI_LAYER_INPUT else layer.id()})
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda _obj=None, d=dialog: self._forget(d))
        self.dialogs.append(dialog)
        dialog.show()
        return dialog

    def keep_results_group_for_results(self, layers):
        """Layers the user adds go just below the "TerraLens results" group, not into it (QGIS
        adds above the selected layer, which after a run is a result); the moved one is
        selected, so the next ones follow it."""
        moved = move_out_of_results_group(layers)
        view = getattr(self.iface, "layerTreeView", lambda: None)()
        if moved and view is not None:
            view.setCurrentLayer(moved[-1])

    def _forget(self, dialog):
        if dialog in self.dialogs:
            self.dialogs.remove(dialog)

    def toggle_panel(self, visible=True):
        """Show or hide the Search panel (made on first use)."""
        if self.panel is None:
            from .search_panel import SearchPanel

            self.panel = SearchPanel(self.iface, self.iface.mainWindow(), self.offer)
            self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.panel)
            self.panel.visibilityChanged.connect(self.panel_action.setChecked)
        self.panel.setVisible(bool(visible))
        if visible:
            self.panel.refresh_rasters()
            self.panel.raise_()
        return self.panel

    def show_models(self):
        from .model_manager import ModelManagerDialog

        dialog = ModelManagerDialog(self.iface.mainWindow())
        dialog.exec()

    def show_about(self):
        """Say what the plugin does and where its algorithms are."""
        QMessageBox.information(self.iface.mainWindow(), "About TerraLens", about_text())

    def unload(self):
        """Remove everything initGui and initProcessing added."""
        if self.offer is not None:
            self.offer.close()
            self.offer = None
        if self.panel is not None:
            self.panel.disconnect_project()
            self.iface.removeDockWidget(self.panel)
            self.panel.deleteLater()
            self.panel = None
        for dialog in list(self.dialogs):
            dialog.close()
        if self.toolbar is not None:  # initGui ran
            QgsProject.instance().layerTreeRegistryBridge().addedLayersToLayerTree.disconnect(
                self.keep_results_group_for_results)
        for action in self.actions:
            if self.iface is not None:
                self.iface.removePluginRasterMenu(MENU_NAME, action)
            action.deleteLater()
        self.actions = []
        self.panel_action = None
        if self.toolbar is not None:
            self.toolbar.deleteLater()
            self.toolbar = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
