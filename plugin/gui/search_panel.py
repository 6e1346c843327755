"""The Search panel: pick rasters, type a query, press Enter, get ranked tiles on the map."""

import uuid
from pathlib import Path

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsGeometry,
    QgsMapLayerType,
    QgsProcessingUtils,
    QgsProject,
    QgsUnitTypes,
)
from qgis.PyQt.QtCore import Qt, pyqtSlot
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QCompleter,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..common.result_layers import result_name, short_text
from ..core.outputs import read_metadata
from .dependencies import DependencyOffer, missing_packages
from .example_panel import ExampleSearching
from .history import load_history, remember_query
from .results import add_result_layer, footprint_rectangle, select_rank, zoom_to
from .search_crs import crs_wkt_for, wkt_of
from .search_job import SearchRequest, run_search
from .settings import load_settings
from .tasks import WorkTask, start

MEMORY_LIMIT = 8  # loaded indexes kept per session (a large index is tens of MB)
RASTER_NAME_CHARS = 16  # of a raster's name in a result row: the row fits the panel's width
LAYER_ROLE = Qt.ItemDataRole.UserRole


SCORE_HELP = ("score: how similar the tile is to the query (cosine similarity of the two "
              "embeddings, -1 to 1; higher is closer). Only the order matters: compare scores "
              "within one search, not between queries.")


def hit_text(hit, raster_name, crs):
    """"3.  score 0.214 · scene" over "77 m tile at 741212, 3740118": a result row on two
    lines, so that it fits the panel at its usual width."""
    xs, ys = [x for x, _ in hit["footprint"]], [y for _, y in hit["footprint"]]
    centre_x, centre_y = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    if crs.isGeographic():
        where = f"tile at {centre_y:.5f}°, {centre_x:.5f}°"
    else:  # no CRS: the raster's own pixel coordinates
        unit = QgsUnitTypes.toAbbreviatedString(crs.mapUnits()) if crs.isValid() else "px"
        where = f"{max(xs) - min(xs):.0f} {unit} tile at {centre_x:.0f}, {centre_y:.0f}"
    name = short_text(raster_name, RASTER_NAME_CHARS)
    return f"{hit['rank']}.  score {hit['score']:.3f}  ·  {name}\n      {where}"


def is_searchable(layer):
    """A GDAL raster that is not a TerraLens result (class raster, heat-map, probability)."""
    return (layer.type() == QgsMapLayerType.RasterLayer and layer.providerType() == "gdal"
            and "model_id" not in read_metadata(layer.source()))


class SearchPanel(ExampleSearching, QDockWidget):
    """Dock widget for text search over the project's rasters, and search by example
    ("More like this" on a result, a tile picked on the map: `example_panel`).

    Attributes:
        memory: loaded TileIndex objects by `pipeline.index_key`, so that later queries
            on a raster need neither the encoder nor the disk.
        task: the running search task, or None.
        result_layer_id: id of the latest result layer.
    """

    def __init__(self, iface, parent=None, offer=None):
        super().__init__("TerraLens search", parent)
        self.setObjectName("TerraLensSearchPanel")
        self.iface = iface
        self.offer = offer or DependencyOffer(iface)  # the plugin's, shared with its toolbar
        self.memory = {}
        self.task = None
        self.pending = None
        self.result_layer_id = None
        self.last_rasters, self.last_subject = [], ""
        self._build()
        project = QgsProject.instance()
        project.layersAdded.connect(self.refresh_rasters)
        project.layersRemoved.connect(self.refresh_rasters)
        project.readProject.connect(self.load_project_history)
        project.cleared.connect(self.load_project_history)
        project.cleared.connect(self.forget_results)
        self.refresh_rasters()
        self.load_project_history()

    # --- widgets -------------------------------------------------------------------------
    def _build(self):
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.addWidget(QLabel("Rasters to search"))
        self.raster_list = QListWidget(body)
        self.raster_list.setMaximumHeight(90)
        layout.addWidget(self.raster_list)
        self.query_box = QComboBox(body)
        self.query_box.setEditable(True)
        self.query_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.query_box.lineEdit().setPlaceholderText("e.g. airplanes beside a terminal")
        self.query_box.lineEdit().returnPressed.connect(self.run_query)
        self.query_box.completer().setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.query_box.completer().setFilterMode(Qt.MatchFlag.MatchContains)
        self.query_box.completer().setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        layout.addWidget(self.query_box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Results"))
        self.k_box = QSpinBox(body)
        self.k_box.setRange(1, 1000)
        self.k_box.setValue(20)
        row.addWidget(self.k_box)
        row.addStretch()
        self.search_button = QPushButton("Search", body)
        self.search_button.clicked.connect(self.run_query)
        row.addWidget(self.search_button)
        layout.addLayout(row)
        self._build_progress(body, layout)
        self.result_list = QListWidget(body)
        self.result_list.itemClicked.connect(self.zoom_to_item)
        self.result_list.itemActivated.connect(self.zoom_to_item)
        layout.addWidget(self.result_list, 1)
        self._build_example_widgets(body, layout)
        self.setWidget(body)

    def _build_progress(self, body, layout):
        row = QHBoxLayout()
        self.progress = QProgressBar(body)
        self.progress.setRange(0, 100)
        row.addWidget(self.progress, 1)
        self.cancel_button = QPushButton("Cancel", body)
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        self.status = QLabel("Type a query and press Enter.", body)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.set_busy(False)

    def set_busy(self, busy):
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.progress.setValue(0)

    # --- rasters and history --------------------------------------------------------------
    def refresh_rasters(self, *_changed):
        """List the project's GDAL rasters (not TerraLens's own result rasters). Rasters already
        listed keep the user's ticks; a newly listed one is ticked when it is the active layer
        or the only raster."""
        listed = {item.data(LAYER_ROLE): bool(item.checkState()) for item in self._items()}
        active = self.iface.activeLayer() if self.iface is not None else None
        layers = [layer for layer in QgsProject.instance().mapLayers().values()
                  if is_searchable(layer)]
        self.raster_list.clear()
        for layer in layers:
            item = QListWidgetItem(layer.name(), self.raster_list)
            item.setData(LAYER_ROLE, layer.id())
            item.setToolTip(layer.source())
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            if layer.id() in listed:
                chosen = listed[layer.id()]
            else:
                chosen = len(layers) == 1 or (active is not None and layer.id() == active.id())
            item.setCheckState(Qt.CheckState.Checked if chosen else Qt.CheckState.Unchecked)

    def _items(self):
        return [self.raster_list.item(row) for row in range(self.raster_list.count())]

    def selected_layer_ids(self):
        """Ids of the checked rasters' layers."""
        return [item.data(LAYER_ROLE) for item in self._items()
                if item.checkState() == Qt.CheckState.Checked]

    def selected_rasters(self):
        """(layer name, file path) of the checked rasters."""
        project = QgsProject.instance()
        layers = [project.mapLayer(layer_id) for layer_id in self.selected_layer_ids()]
        return [(layer.name(), layer.source()) for layer in layers if layer is not None]

    def load_project_history(self, *_args):
        self._show_history(load_history(QgsProject.instance()))

    def forget_results(self):
        """A new or another project: the listed results point at layers that are gone."""
        self.result_list.clear()
        self.result_layer_id = None
        self.last_rasters, self.last_subject = [], ""
        self.like_button.setEnabled(False)
        self.report("Type a query and press Enter.")

    def _show_history(self, history, text=""):
        self.query_box.clear()
        self.query_box.addItems(history)
        self.query_box.setEditText(text)

    # --- searching ------------------------------------------------------------------------
    def run_query(self, query=None):
        """Search the checked rasters for `query` (default: the query box) in a task."""
        query = (query if isinstance(query, str) else self.query_box.currentText()).strip()
        if not query:
            return self.report("Type what you look for, e.g. 'houses with a pool'.")
        return self.start_search(query, self.selected_rasters())

    def start_search(self, query, rasters, examples=None, examples_crs_wkt=None):
        """Search `rasters` for `query`, or for tiles like `examples` (WKT geometries in
        `examples_crs_wkt`, `query` then naming the search), in a task."""
        if not rasters:
            return self.report("Tick at least one raster (add one to the project first).")
        if missing_packages():
            self.offer.show_if_needed()
            return self.report("onnxruntime is missing or broken: see the message bar.")
        if self.task is not None:
            if examples:
                return self.report("A search is running: try again when it has ended.")
            self.pending = query
            return self.report(f"Will search '{query}' when the running search ends.")
        return self._start(query, rasters, examples or [], examples_crs_wkt)

    def _start(self, query, rasters, examples, examples_crs_wkt):
        settings = load_settings()
        out = Path(QgsProcessingUtils.tempFolder()) / f"search-{uuid.uuid4().hex[:8]}.gpkg"
        request = SearchRequest(rasters, query, self.k_box.value(), settings.bundle_dir,
                                settings.providers, settings.batch_size, str(out),
                                crs_wkt_for(QgsProject.instance().crs(),
                                            (path for _, path in rasters)),
                                examples, examples_crs_wkt)
        memory = dict(self.memory)  # a snapshot: the worker reads, only the main thread writes

        def work(control):
            outcome = run_search(request, memory, control)
            return lambda: self.show_results(outcome)

        self.task = WorkTask(f"TerraLens search: {query}", work, self.search_failed,
                             self.search_cancelled, self.show_warnings)
        self.task.progressChanged.connect(self.show_progress)
        self.set_busy(True)
        self.report(f"Searching '{query}'…")
        return start(self.task)

    @pyqtSlot(float)
    def show_progress(self, percent):
        """Task progress (a queued signal from the worker thread)."""
        if self.task is not None:
            self.progress.setValue(int(percent))
            if self.task.message:
                self.status.setText(self.task.message)

    def cancel(self):
        if self.task is not None:
            self.task.cancel()

    def report(self, text):
        self.status.setText(text)

    # --- task endings (main thread) ----------------------------------------------------------
    def show_results(self, outcome):
        """Add the result layer, list the hits, remember the query and the new indexes."""
        self._task_ended()
        self.memory.update(outcome.new_indexes)
        while len(self.memory) > MEMORY_LIMIT:
            self.memory.pop(next(iter(self.memory)))
        query = outcome.request.query
        layer = add_result_layer(outcome.request.out_path,
                                 result_name("Search", query, outcome.raster_names), "search")
        self.result_layer_id = layer.id()
        self.last_rasters, self.last_subject = outcome.request.rasters, query
        self._list_hits(outcome, layer.crs())  # none for rasters without one (pixel units)
        if not outcome.request.examples:  # "like result 3 of ..." is no query to offer again
            self._show_history(remember_query(QgsProject.instance(), query), query)
        best = f"; best score {outcome.hits[0]['score']:.3f}" if outcome.hits else ""
        self.report(f"{len(outcome.hits)} tiles for '{query}' ({outcome.model_id}){best}. "
                    "Click one to zoom to it; hover for what the score means.")
        self._run_pending()

    def _list_hits(self, outcome, crs):
        self.result_list.clear()
        for hit in outcome.hits:
            item = QListWidgetItem(hit_text(hit, outcome.raster_names[hit["index"]], crs))
            item.setToolTip(f"{outcome.raster_names[hit['index']]}\n{SCORE_HELP}")
            item.setData(LAYER_ROLE, (hit["rank"], hit["footprint"], wkt_of(crs)))
            self.result_list.addItem(item)

    def show_warnings(self, warnings):
        """What the search warned about (e.g. one tile for a whole raster), on the message bar."""
        for text in warnings:
            self.iface.messageBar().pushMessage("TerraLens", text, Qgis.MessageLevel.Warning, 0)

    def search_failed(self, message):
        self._task_ended()
        self.pending = None
        self.report(f"Search failed: {message}")
        self.iface.messageBar().pushMessage("TerraLens", message, Qgis.MessageLevel.Critical, 15)

    def search_cancelled(self):
        self._task_ended()
        self.pending = None
        self.report("Cancelled; nothing was added. The next query starts the index again.")

    def _task_ended(self):
        self.task = None
        self.set_busy(False)

    def _run_pending(self):
        query, self.pending = self.pending, None
        if query:
            self.run_query(query)

    # --- results on the map ------------------------------------------------------------------
    def zoom_to_item(self, item):
        """Zoom the map to a listed tile, select it in the result layer and flash it."""
        rank, corners, crs_wkt = item.data(LAYER_ROLE)
        layer = QgsProject.instance().mapLayer(self.result_layer_id or "")
        crs = (layer.crs() if layer is not None
               else QgsCoordinateReferenceSystem.fromWkt(crs_wkt or ""))
        rectangle = footprint_rectangle(corners)
        canvas = self.iface.mapCanvas()
        zoom_to(canvas, rectangle, crs)
        if layer is not None:
            select_rank(layer, rank)
        canvas.flashGeometries([QgsGeometry.fromRect(rectangle)], crs)

    def disconnect_project(self):
        """Stop listening to the project (before the panel is deleted)."""
        project = QgsProject.instance()
        for signal, slot in ((project.layersAdded, self.refresh_rasters),
                             (project.layersRemoved, self.refresh_rasters),
                             (project.readProject, self.load_project_history),
                             (project.cleared, self.load_project_history),
                             (project.cleared, self.forget_results)):
            try:
                signal.disconnect(slot)
            except (TypeError, RuntimeError):
                pass
        if self.task is not None:
            self.task.detach()
            self.task = None
        self.release_pick_tool()
