"""Run inside QGIS by tools/screenshot.sh: show TerraLens scenes and save a picture of each.

Scenes (env TERRALENS_SHOT_SCENES, comma separated, in this order):
- missing: the message QGIS shows when onnxruntime cannot be used (run QGIS without it);
- models: the Models and settings dialog on the default model;
- labels: the demo mosaic labelled with Processing (styled, grouped result layers);
- search: the Search panel answering a query on the demo mosaic;
- like: "More like this" on the search's first result (after the search scene).
Pictures go to TERRALENS_SHOT_DIR as screenshot-<scene>.png; they are grabbed from QGIS's own
widgets (no screen-capture tool needed). QGIS quits when the last scene is saved.
"""

import os
from pathlib import Path

from qgis.core import QgsProject, QgsSettings
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtWidgets import QDockWidget
from qgis.utils import iface, plugins

OUT = Path(os.environ["TERRALENS_SHOT_DIR"])
SCENES = [s for s in os.environ.get("TERRALENS_SHOT_SCENES", "").split(",") if s]
MODEL = os.environ.get("TERRALENS_SHOT_MODEL", "")
QUERY = os.environ.get("TERRALENS_SHOT_QUERY", "airplanes parked beside a terminal")
LABELS = os.environ.get("TERRALENS_SHOT_LABELS", "")
POLL_MS, GIVE_UP_MS = 200, 180_000
SCENE_LAYER = []  # the raster QGIS was started with


def log(text):
    print(f"TerraLens screenshot: {text}", flush=True)


def quit_qgis():
    QgsProject.instance().setDirty(False)
    QTimer.singleShot(5000, lambda: os._exit(0))  # if QGIS still asks something
    iface.actionExit().trigger()


def save(widget, scene):
    path = OUT / f"screenshot-{scene}.png"
    widget.grab().save(str(path))
    log(f"saved {path}")


def after(condition, then, waited=0):
    """Call `then` once `condition()` holds (polling), or give up and quit."""
    if condition():
        QTimer.singleShot(1500, then)  # let the canvas and the panels finish drawing
    elif waited > GIVE_UP_MS:
        log("gave up waiting")
        quit_qgis()
    else:
        QTimer.singleShot(POLL_MS, lambda: after(condition, then, waited + POLL_MS))


def next_scene():
    if not SCENES:
        quit_qgis()
        return
    scene = SCENES.pop(0)
    log(f"scene {scene}")
    globals()[f"scene_{scene}"]()


def scene_missing():
    offer = plugins["terralens"].offer
    after(lambda: offer.status is not None,
          lambda: (save(iface.mainWindow(), "missing"), next_scene()))


def scene_models():
    from terralens.plugin.gui.model_manager import ModelManagerDialog

    dialog = ModelManagerDialog(iface.mainWindow())
    dialog.resize(1000, 640)
    dialog.show()

    def shoot():
        save(dialog, "models")
        dialog.close()
        next_scene()

    QTimer.singleShot(1000, shoot)


def scene_labels():
    import processing

    processing.runAndLoadResults("terralens:zeroshotlabel", {
        "INPUT": SCENE_LAYER[0].source(), "LABELS": LABELS, "MODEL": MODEL,
        "OUTPUT": str(OUT / "shot-labels.gpkg"), "CLASS_RASTER": "TEMPORARY_OUTPUT"})
    for layer in QgsProject.instance().mapLayers().values():
        if layer.name().startswith("Classes"):  # the polygons with their legend stay on top
            QgsProject.instance().layerTreeRoot().findLayer(layer.id()).setItemVisibilityChecked(
                False)
    iface.mapCanvas().refresh()
    after(lambda: not iface.mapCanvas().isDrawing(),
          lambda: (save(iface.mainWindow(), "labels"), next_scene()))


def scene_search():
    QgsSettings().setValue("terralens/default_bundle", MODEL)
    iface.setActiveLayer(SCENE_LAYER[0])  # the panel ticks the active raster
    root = QgsProject.instance().layerTreeRoot()
    for node in root.findLayers():  # earlier scenes' results would hide the ranks' colours
        if node.layer() is not SCENE_LAYER[0]:
            node.setItemVisibilityChecked(False)
            node.setExpanded(False)
    plugin = plugins["terralens"]
    plugin.panel_action.trigger()
    panel = plugin.panel
    iface.mainWindow().resizeDocks([panel], [460], Qt.Orientation.Horizontal)
    panel.query_box.setEditText(QUERY)
    panel.run_query()

    def shoot():
        if panel.result_list.count():
            panel.result_list.setCurrentRow(0)
            panel.zoom_to_item(panel.result_list.item(0))
            iface.zoomFull()
        save(iface.mainWindow(), "search")
        next_scene()

    after(lambda: panel.task is None, shoot)


def scene_like():
    panel = plugins["terralens"].panel
    if panel is None or not panel.result_list.count():
        log("the like scene needs the search scene's results first")
        quit_qgis()
        return
    root = QgsProject.instance().layerTreeRoot()
    for node in root.findLayers():  # the text search's ranks would mix with the new ones
        if node.layer().name().startswith("Search:"):
            node.setItemVisibilityChecked(False)
    panel.result_list.setCurrentRow(0)
    panel.more_like_this(panel.result_list.item(0))

    def shoot():
        panel.result_list.setCurrentRow(0)
        iface.zoomFull()
        save(iface.mainWindow(), "like")
        next_scene()

    after(lambda: panel.task is None, shoot)


def start():
    SCENE_LAYER.append(iface.activeLayer())  # the raster QGIS opened
    window = iface.mainWindow()
    window.move(0, 0)
    window.resize(1400, 900)
    browser = window.findChild(QDockWidget, "Browser")
    if browser is not None:
        browser.hide()  # room for the layer tree with the result layers' legends
    iface.zoomFull()
    next_scene()


QTimer.singleShot(3000, start)  # after QGIS has drawn its window and the raster
