"""What a user does and sees in the GUI tests: wait for QGIS, search, read bar and results."""

import time

import pytest
from qgis.core import QgsApplication, QgsProject

from terralens.plugin.common.result_layers import GROUP_NAME


def wait_for(condition, timeout=20.0):
    """Let QGIS run (task manager, queued signals) until `condition()` or fail at `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout} s")
        QgsApplication.processEvents()
        time.sleep(0.005)


def search(panel, query):
    """Type `query` in the Search panel, press Enter, wait until the search task ends."""
    panel.query_box.setEditText(query)
    panel.query_box.lineEdit().returnPressed.emit()  # what Enter does
    assert panel.task is not None, panel.status.text()
    wait_for(lambda: panel.task is None)


def bar_texts(iface):
    """The texts of the message bar's items."""
    return [item.text() for item in iface.message_bar.items()]


def result_layers():
    """The layers of the TerraLens results group, top first."""
    group = QgsProject.instance().layerTreeRoot().findGroup(GROUP_NAME)
    return [] if group is None else [node.layer() for node in group.findLayers()]


def wait_for_task(panel):
    """Wait until the panel's running task ends (it must have started)."""
    assert panel.task is not None, panel.status.text()
    wait_for(lambda: panel.task is None)


def centres(layer):
    """The centres of a layer's features, rounded to the centimetre."""
    return {(round(f.geometry().centroid().asPoint().x(), 2),
             round(f.geometry().centroid().asPoint().y(), 2)) for f in layer.getFeatures()}


def rounded(point):
    """(x, y) rounded to the centimetre."""
    return round(point[0], 2), round(point[1], 2)
