"""The map tool that picks a tile: a click on the map searches for tiles like it."""

from gui_steps import centres, result_layers, rounded, wait_for_task
from qgis.core import QgsPointXY
from qgis.gui import QgsMapMouseEvent, QgsMapToolPan
from qgis.PyQt.QtCore import QEvent, QPoint, Qt

from terralens.plugin.core.example_tiles import tiles_for_example
from terralens.plugin.gui.example_panel import footprint_centre
from terralens.plugin.gui.pick_tool import PickTileTool


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


def test_closing_the_panel_or_unloading_gives_the_map_its_tool_back(panel, stub_iface, raster,
                                                                     use_tiny):
    canvas = stub_iface.canvas
    stub_iface.window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, panel)
    stub_iface.window.show()
    pan = QgsMapToolPan(canvas)
    canvas.setMapTool(pan)
    panel.pick_button.setChecked(True)
    assert isinstance(canvas.mapTool(), PickTileTool)
    panel.close()  # a click on the map must not start a search nobody sees
    assert not panel.pick_button.isChecked() and canvas.mapTool() is pan
    panel.show()
    panel.pick_button.setChecked(True)
    panel.release_pick_tool()  # what unloading the plugin does
    assert canvas.mapTool() is pan and panel.pick_tool is None
    canvas.unsetMapTool(pan)
    pan.deleteLater()
