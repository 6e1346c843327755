"""Render PNG previews of TerraLens results over their raster with QGIS (offscreen)."""

import os
import sys
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsPalLayerSettings,
    QgsRasterLayer,
    QgsTextFormat,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT.parent))  # the checkout's parent, for `import terralens`


def start_qgis():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QgsApplication([], False)
    QgsApplication.setPrefixPath("/usr", True)
    app.initQgis()
    return app


def label_field(layer, field, size=9):
    settings = QgsPalLayerSettings()
    settings.fieldName = field
    text = QgsTextFormat()
    text.setSize(size)
    text.setColor(QColor("white"))
    buffer = text.buffer()
    buffer.setEnabled(True)
    buffer.setColor(QColor("black"))
    buffer.setSize(0.8)
    settings.setFormat(text)
    layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))
    layer.setLabelsEnabled(True)


def render(layers, extent_layer, out_png, size=900):
    """Draw `layers` (top first) over the extent of `extent_layer` into a PNG."""
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(extent_layer.crs())
    settings.setExtent(extent_layer.extent())
    settings.setOutputSize(QSize(size, size))
    settings.setBackgroundColor(QColor("white"))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    job.renderedImage().save(str(out_png), "PNG")
    return out_png


def preview(raster_path, result_path, style, out_png, label=None):
    """A PNG of a result (vector or raster) styled as the plugin styles it, over the raster."""
    from terralens.plugin.common import styles

    raster = QgsRasterLayer(str(raster_path), "raster")
    if str(result_path).endswith(".tif"):
        result = QgsRasterLayer(str(result_path), "result")
    else:
        result = QgsVectorLayer(str(result_path), "result", "ogr")
    styles.StyleOnLoad(style).postProcessLayer(result, None, None)
    if label:
        label_field(result, label)
    return render([result, raster], raster, out_png)
