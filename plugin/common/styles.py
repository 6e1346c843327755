"""Styles for result layers, applied when QGIS loads them: QML files from resources/styles."""

import colorsys

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsColorRampShader,
    QgsFillSymbol,
    QgsGraduatedSymbolRenderer,
    QgsPalettedRasterRenderer,
    QgsProcessingLayerPostProcessorInterface,
    QgsRasterBandStats,
    QgsRasterShader,
    QgsRendererCategory,
    QgsSingleBandPseudoColorRenderer,
)
from qgis.PyQt.QtGui import QColor

from ..core.outputs import read_metadata
from .resources import STYLE_DIR
from .result_layers import place_in_results_group

_alive = []  # QGIS keeps only a pointer to post-processors: keep the Python objects alive


def palette(count):
    """`count` distinct, readable colours (evenly spaced hues)."""
    colours = []
    for number in range(count):
        red, green, blue = colorsys.hsv_to_rgb(number / max(1, count), 0.65, 0.9)
        colours.append(QColor(int(red * 255), int(green * 255), int(blue * 255)))
    return colours


def categorise_by_label(layer):
    """One semi-transparent fill colour a label, in the order of the layer's labels."""
    index = layer.fields().indexOf("label")
    values = sorted(v for v in layer.uniqueValues(index) if v is not None)
    categories = []
    for value, colour in zip(values, palette(len(values))):
        symbol = QgsFillSymbol.createSimple({"color": colour.name(), "outline_color": "#202020",
                                             "outline_width": "0.1"})
        symbol.setOpacity(0.55)
        categories.append(QgsRendererCategory(value, symbol, str(value)))
    layer.setRenderer(QgsCategorizedSymbolRenderer("label", categories))


def palette_classes(layer):
    """Paletted class raster with the label names stored in the file."""
    classes = read_metadata(layer.source()).get("classes", {})
    entries = [QgsPalettedRasterRenderer.Class(int(value), colour, name)
               for (value, name), colour in zip(sorted(classes.items(), key=lambda kv: int(kv[0])),
                                                palette(len(classes)))]
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, entries))


def pseudocolour(layer, low=None, high=None):
    """Heat-map colours (dark blue to yellow) from `low` to `high` (default: band min/max)."""
    if low is None or high is None:
        stats = layer.dataProvider().bandStatistics(1, QgsRasterBandStats.Min |
                                                    QgsRasterBandStats.Max)
        low, high = stats.minimumValue, stats.maximumValue
    colours = ["#30123b", "#4686fb", "#1be5b5", "#a4fc3c", "#fbb938", "#d23105"]
    steps = len(colours) - 1
    items = [QgsColorRampShader.ColorRampItem(low + (high - low) * i / steps, QColor(c))
             for i, c in enumerate(colours)]
    ramp = QgsColorRampShader(low, high)
    ramp.setColorRampType(QgsColorRampShader.Interpolated)
    ramp.setColorRampItemList(items)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(ramp)
    layer.setRenderer(QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader))
    layer.renderer().setOpacity(0.7)


class StyleOnLoad(QgsProcessingLayerPostProcessorInterface):
    """Applies a named style to a result layer once QGIS has loaded it."""

    def __init__(self, style):
        super().__init__()
        self.style = style

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS API)
        self.apply(layer)
        if context is not None and context.project() is not None:
            node = context.project().layerTreeRoot().findLayer(layer.id())
            if node is not None and node.parent() is context.project().layerTreeRoot():
                place_in_results_group(layer, context.project())  # unless Processing's own
                # results group (a user setting) already holds it

    def apply(self, layer):
        """Set the named style on `layer`."""
        if self.style == "labels":
            categorise_by_label(layer)
        elif self.style == "classes":
            palette_classes(layer)
        elif self.style == "heatmap":
            pseudocolour(layer)
        elif self.style == "probability":
            pseudocolour(layer, 0.0, 1.0)
        else:
            layer.loadNamedStyle(str(STYLE_DIR / f"{self.style}.qml"))
            renderer = layer.renderer()
            if isinstance(renderer, QgsGraduatedSymbolRenderer):
                renderer.updateClasses(layer, len(renderer.ranges()) or 5)  # breaks of this data
        layer.triggerRepaint()


def style_on_load(style):
    """A post-processor applying `style` (kept alive for as long as QGIS may call it)."""
    processor = StyleOnLoad(style)
    _alive.append(processor)
    del _alive[:-32]
    return processor
