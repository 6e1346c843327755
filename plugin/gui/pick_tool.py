"""A map tool to pick a tile: a left click on the map says where, in the canvas's CRS."""

from qgis.gui import QgsMapToolEmitPoint
from qgis.PyQt.QtCore import Qt, pyqtSignal


class PickTileTool(QgsMapToolEmitPoint):
    """Emits `picked(point)` (a QgsPointXY in the canvas's CRS) for each left click released on
    the map; other buttons are left to QGIS (right click, pan)."""

    picked = pyqtSignal(object)

    def __init__(self, canvas):
        super().__init__(canvas)
        self.setCursor(Qt.CursorShape.CrossCursor)

    def canvasReleaseEvent(self, event):  # noqa: N802 (QGIS API)
        if event.button() == Qt.MouseButton.LeftButton:
            self.picked.emit(self.toMapCoordinates(event.pos()))

    def crs(self):
        """The CRS of the points it emits (the canvas's)."""
        return self.canvas().mapSettings().destinationCrs()
