"""The Search panel's search by example: "More like this" on a result, and a tile picked on the
map (the same task flow as a text search)."""

from qgis.core import (
    QgsCoordinateTransform,
    QgsProject,
)
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QHBoxLayout, QMenu, QPushButton

from .pick_tool import PickTileTool
from .search_crs import crs_wkt_for

ROW_ROLE = Qt.ItemDataRole.UserRole


def footprint_centre(corners):
    """The centre of a tile's corner coordinates."""
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    return (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2


class ExampleSearching:
    """Mixed into the Search panel: widgets and actions that search by example.

    Needs from the panel: `iface`, `result_list`, `report`, `zoom_to_item`, `selected_rasters`,
    `selected_layer_ids`, `start_search(subject, rasters, examples, crs_wkt)`, and the rasters
    and subject of the last search in `last_rasters` and `last_subject`.
    """

    pick_tool = None
    previous_tool = None

    def _build_example_widgets(self, body, layout):
        row = QHBoxLayout()
        self.like_button = QPushButton("More like this", body)
        self.like_button.setToolTip("Search the same rasters for tiles like the selected result")
        self.like_button.setEnabled(False)
        self.like_button.clicked.connect(lambda _checked=False: self.more_like_this())
        row.addWidget(self.like_button)
        self.pick_button = QPushButton("Pick a tile on the map", body)
        self.pick_button.setToolTip("Click a tile of a ticked raster to find tiles like it")
        self.pick_button.setCheckable(True)
        self.pick_button.toggled.connect(self.use_pick_tool)
        self.visibilityChanged.connect(self.pick_tool_off_when_hidden)
        row.addWidget(self.pick_button)
        layout.addLayout(row)
        self.result_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.result_list.customContextMenuRequested.connect(self.show_row_menu)
        self.result_list.currentItemChanged.connect(
            lambda current, _old: self.like_button.setEnabled(current is not None))

    def row_menu(self, item):
        """The context menu of a result row: zoom to it, or search for more like it."""
        menu = QMenu(self.result_list)
        menu.addAction("Zoom to tile", lambda: self.zoom_to_item(item))
        menu.addAction("More like this", lambda: self.more_like_this(item))
        return menu

    def show_row_menu(self, position):
        item = self.result_list.itemAt(position)
        if item is not None:
            self.row_menu(item).exec(self.result_list.viewport().mapToGlobal(position))

    def more_like_this(self, item=None):
        """Search the last search's rasters for tiles like a result row's (default: the
        selected row)."""
        item = item or self.result_list.currentItem()
        if item is None:
            return self.report("Select a result first, then press More like this.")
        rank, corners, crs_wkt = item.data(ROW_ROLE)
        x, y = footprint_centre(corners)
        subject = f"like result {rank} ({self.last_subject})"
        return self.start_search(subject, self.last_rasters, [f"POINT ({x!r} {y!r})"], crs_wkt)

    # --- the map tool --------------------------------------------------------------------
    def use_pick_tool(self, active):
        """Turn the pick tool on (the canvas's previous tool comes back when it is off)."""
        canvas = self.iface.mapCanvas()
        if active:
            if self.pick_tool is None:
                self.pick_tool = PickTileTool(canvas)
                self.pick_tool.picked.connect(self.search_like_point)
                self.pick_tool.deactivated.connect(lambda: self.pick_button.setChecked(False))
            if canvas.mapTool() is not self.pick_tool:
                self.previous_tool = canvas.mapTool()
            canvas.setMapTool(self.pick_tool)
            self.report("Click a tile of a ticked raster to find tiles like it.")
        elif self.pick_tool is not None and canvas.mapTool() is self.pick_tool:
            self._restore_previous_tool(canvas)

    def _restore_previous_tool(self, canvas):
        """Give the canvas the tool it had before the pick tool (none if that one is gone)."""
        try:
            if self.previous_tool is not None:
                canvas.setMapTool(self.previous_tool)
                return
        except RuntimeError:  # its C++ object was deleted (e.g. another plugin unloaded)
            self.previous_tool = None
        canvas.unsetMapTool(self.pick_tool)

    def pick_tool_off_when_hidden(self, visible):
        """A closed panel takes its pick tool with it: a click would start a hidden search."""
        if not visible and self.pick_button.isChecked():
            self.pick_button.setChecked(False)

    def search_like_point(self, point):
        """Search the ticked rasters for tiles like the one under `point` (canvas CRS)."""
        crs = self.pick_tool.crs() if self.pick_tool is not None \
            else self.iface.mapCanvas().mapSettings().destinationCrs()
        rasters = self.selected_rasters()
        if rasters and not self.point_on_rasters(point, crs):
            return self.report("That point is on none of the ticked rasters: click inside one.")
        examples_crs_wkt = crs_wkt_for(crs, (path for _, path in rasters))
        where = (f"{point.y():.5f}°, {point.x():.5f}°" if examples_crs_wkt and crs.isGeographic()
                 else f"{point.x():.0f}, {point.y():.0f}")
        return self.start_search(f"like the tile at {where}", rasters,
                                 [f"POINT ({point.x()!r} {point.y()!r})"], examples_crs_wkt)

    def point_on_rasters(self, point, crs):
        """Whether `point` (in `crs`) lies inside a ticked raster's extent."""
        project = QgsProject.instance()
        for layer_id in self.selected_layer_ids():
            layer = project.mapLayer(layer_id)
            if layer is None:
                continue
            transform = QgsCoordinateTransform(crs, layer.crs(), project)
            if layer.extent().contains(transform.transform(point)):
                return True
        return False

    def release_pick_tool(self):
        """Give the canvas its previous tool back (the panel is going away)."""
        if self.pick_tool is not None:
            canvas = self.iface.mapCanvas()
            if canvas.mapTool() is self.pick_tool:
                self._restore_previous_tool(canvas)
            self.previous_tool = None
            self.pick_tool.deleteLater()  # now, not at interpreter exit after QGIS has gone
            self.pick_tool = None
