"""Run inside QGIS by tools/screenshot.sh: open the Search panel, search, capture the screen."""

import os
import subprocess

from qgis.core import QgsProject, QgsSettings
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtWidgets import QDockWidget
from qgis.utils import iface, plugins

OUT = os.environ["TERRALENS_SHOT_OUT"]
QUERY = os.environ.get("TERRALENS_SHOT_QUERY", "houses with a pool")
POLL_MS = 200
GIVE_UP_S = 120


def quit_qgis(code=0):
    """Leave without the "save the project?" question (the history made it dirty)."""
    QgsProject.instance().setDirty(False)
    QTimer.singleShot(5000, lambda: os._exit(code))  # if QGIS still asks something
    iface.actionExit().trigger()


def capture():
    subprocess.run(["import", "-window", "root", OUT], check=False)
    quit_qgis(0 if os.path.isfile(OUT) else 1)


def when_done(panel, waited_ms=0):
    if panel.task is not None:
        if waited_ms > GIVE_UP_S * 1000:
            print("TerraLens screenshot: the search did not finish")
            quit_qgis(1)
            return
        QTimer.singleShot(POLL_MS, lambda: when_done(panel, waited_ms + POLL_MS))
        return
    print("TerraLens screenshot:", panel.status.text())
    if panel.result_list.count():
        panel.result_list.setCurrentRow(0)  # show the best tile selected on the map
        from terralens.plugin.gui.results import select_rank

        layer = QgsProject.instance().mapLayer(panel.result_layer_id)
        select_rank(layer, 1)
    iface.mapCanvas().refresh()
    QTimer.singleShot(3000, capture)  # let the canvas finish drawing


def start():
    window = iface.mainWindow()
    window.move(0, 0)
    window.resize(1400, 900)
    browser = window.findChild(QDockWidget, "Browser")
    if browser is not None:
        browser.hide()  # room for the layer tree with the result layer's legend
    QgsSettings().setValue("terralens/default_bundle", os.environ["TERRALENS_SHOT_MODEL"])
    plugin = plugins["terralens"]
    plugin.panel_action.trigger()
    panel = plugin.panel
    panel.resize(420, panel.height())
    iface.mainWindow().resizeDocks([panel], [420], Qt.Orientation.Horizontal)
    iface.zoomFull()
    panel.query_box.setEditText(QUERY)
    panel.run_query()
    when_done(panel)


QTimer.singleShot(2000, start)  # after QGIS has drawn its window and the raster
