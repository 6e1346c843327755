"""The Search panel's search by example: "More like this" on a result row (context menu and
button) and a tile picked on the map with the pick tool."""

from gui_steps import result_layers, search, wait_for
from qgis.core import QgsPointXY, QgsProject
from qgis.gui import QgsMapMouseEvent, QgsMapToolPan
from qgis.PyQt.QtCore import QEvent, QPoint, Qt

from terralens.plugin.core.example_tiles import tiles_for_example
from terralens.plugin.gui.example_panel import footprint_centre
from terralens.plugin.gui.history import load_history
from terralens.plugin.gui.pick_tool import PickTileTool


def wait_for_task(panel):
    assert panel.task is not None, panel.status.text()
    wait_for(lambda: panel.task is None)


def centres(layer):
    return {(round(f.geometry().centroid().asPoint().x(), 2),
             round(f.geometry().centroid().asPoint().y(), 2)) for f in layer.getFeatures()}


def rounded(point):
    return round(point[0], 2), round(point[1], 2)


def test_more_like_this_from_the_row_menu(panel, use_tiny):
    search(panel, "houses")
    item = panel.result_list.item(2)
    rank, corners, _crs = item.data(Qt.ItemDataRole.UserRole)
    menu = panel.row_menu(item)
    assert [action.text() for action in menu.actions()] == ["Zoom to tile", "More like this"]
    menu.actions()[1].trigger()
    wait_for_task(panel)
    layers = result_layers()
    assert layers[0].name() == "Search: like result 3 (houses) (atlanta pan)"
    assert layers[0].featureCount() == 20 and panel.result_list.count() == 20
    assert rounded(footprint_centre(corners)) not in centres(layers[0]), "not the example"
    assert panel.status.text().startswith("20 tiles for 'like result 3 (houses)'")
    assert load_history(QgsProject.instance()) == ["houses"], "no example search in history"


def test_more_like_this_button_uses_the_selected_row(panel, use_tiny):
    search(panel, "roads")
    assert not panel.like_button.isEnabled()
    panel.result_list.setCurrentRow(0)
    assert panel.like_button.isEnabled()
    panel.like_button.click()
    wait_for_task(panel)
    assert result_layers()[0].name() == "Search: like result 1 (roads) (atlanta pan)"
    panel.result_list.setCurrentRow(-1)
    panel.more_like_this()
    assert panel.status.text().startswith("Select a result first")


def click(canvas, tool, point):
    """A left click released on the canvas at a map point (what the user does)."""
    pixel = canvas.getCoordinateTransform().transform(point)
    at = QPoint(int(round(pixel.x())), int(round(pixel.y())))
    event = QgsMapMouseEvent(canvas, QEvent.Type.MouseButtonRelease, at,
                             Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton,
                             Qt.KeyboardModifier.NoModifier)
    tool.canvasReleaseEvent(event)


def test_pick_tool_searches_for_tiles_like_the_clicked_one(panel, stub_iface, raster, use_tiny):
    canvas = stub_iface.canvas
    stub_iface.window.show()
    canvas.setDestinationCrs(raster.crs())
    canvas.setExtent(raster.extent())
    pan = QgsMapToolPan(canvas)
    canvas.setMapTool(pan)
    panel.pick_button.setChecked(True)
    tool = canvas.mapTool()
    assert isinstance(tool, PickTileTool)
    extent = raster.extent()
    clicked = QgsPointXY(extent.xMinimum() + 100.0, extent.yMaximum() - 100.0)  # in tile 0
    click(canvas, tool, clicked)
    wait_for_task(panel)
    layer = result_layers()[0]
    assert layer.name().startswith("Search: like the tile at ") and layer.featureCount() == 20
    (index,) = panel.memory.values()
    (tile,) = tiles_for_example(index, f"POINT ({clicked.x()} {clicked.y()})")
    assert rounded(footprint_centre(index.footprint(tile))) not in centres(layer), \
        "the clicked tile is the example, left out"
    assert len(centres(layer)) == 20
    click(canvas, tool, QgsPointXY(extent.xMaximum() + 5000.0, extent.yMinimum()))
    assert panel.task is None and "none of the ticked rasters" in panel.status.text()
    panel.pick_button.setChecked(False)
    assert canvas.mapTool() is pan, "the previous map tool is back"
    canvas.unsetMapTool(pan)
    pan.deleteLater()
