"""Styles for result layers, applied when QGIS loads them: QML files from resources/styles."""

import colorsys

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsColorRampLegendNodeSettings,
    QgsColorRampShader,
    QgsCoordinateReferenceSystem,
    QgsFillSymbol,
    QgsGraduatedSymbolRenderer,
    QgsMapLayerLegendUtils,
    QgsMapLayerType,
    QgsPalettedRasterRenderer,
    QgsPalLayerSettings,
    QgsProcessingLayerPostProcessorInterface,
    QgsProperty,
    QgsRasterBandStats,
    QgsRasterShader,
    QgsRendererCategory,
    QgsRendererRange,
    QgsSingleBandPseudoColorRenderer,
    QgsTextBufferSettings,
    QgsTextFormat,
    QgsVectorLayerSimpleLabeling,
)
from qgis.PyQt import sip
from qgis.PyQt.QtGui import QColor

from ..core.outputs import read_metadata
from ..core.pipeline.label_output import class_values_present
from ..core.record_summary import record_summary
from .resources import STYLE_DIR
from .result_layers import place_in_results_group, put_under

RANK_COLOURS = ["#b2182b", "#ef8a62", "#fddbc7", "#d1e5f0", "#67a9cf"]  # best to weakest
_alive = []  # QGIS keeps only a pointer to post-processors: keep the Python objects alive
_layers_of_run = {}  # address of a Processing context -> {"vector"/"raster": layer id}
UNDEFINED_CRS_NAMES = ("Undefined geographic SRS", "Undefined Cartesian SRS")  # GeoPackage's
# Raster outputs that repeat what their run's polygons show (the class of each tile, the
# probability a mask was cut from): shown, the opaque raster hid the imagery under the
# see-through polygons, so they come unticked. Similarity and change heat-maps stay shown:
# they cover tiles the ranked polygons leave out.
HIDDEN_UNDER_POLYGONS = ("classes", "probability")


def palette(count):
    """`count` distinct, readable colours (evenly spaced hues)."""
    colours = []
    for number in range(count):
        red, green, blue = colorsys.hsv_to_rgb(number / max(1, count), 0.65, 0.9)
        colours.append(QColor(int(red * 255), int(green * 255), int(blue * 255)))
    return colours


def layer_record(layer):
    """The TerraLens record in a result layer's file ({} if none); a GeoPackage layer's source
    is "file.gpkg|layername=labels"."""
    return read_metadata(layer.source().split("|")[0])


def categorise_by_label(layer, labels=None, record=None):
    """One semi-transparent fill colour a label, the label's name written on its tiles.

    Colours follow the order of the labels the user gave (`labels`, or as recorded in the layer:
    `record`, read when not given; Shapefile and GeoJSON keep no record), as the class raster's
    do, so a label has the same colour in both; `unknown` is grey.
    """
    present = {v for v in layer.uniqueValues(layer.fields().indexOf("label")) if v is not None}
    if not labels:
        record = layer_record(layer) if record is None else record
        labels = record.get("parameters", {}).get("labels")
    order = labels or sorted(present)
    colours = dict(zip(order, palette(len(order))))
    categories = []
    for value in [label for label in order if label in present] + sorted(present - set(order)):
        colour = colours.get(value, QColor("#9e9e9e"))
        symbol = QgsFillSymbol.createSimple({"color": colour.name(), "outline_color": "#202020",
                                             "outline_width": "0.1"})
        symbol.setOpacity(0.55)
        categories.append(QgsRendererCategory(value, symbol, str(value)))
    layer.setRenderer(QgsCategorizedSymbolRenderer("label", categories))
    write_labels_on_tiles(layer)


def write_labels_on_tiles(layer, field="label"):
    """The value of `field` written on each tile (QGIS drops what would overlap)."""
    settings = QgsPalLayerSettings()
    settings.fieldName = field
    settings.placement = QgsPalLayerSettings.OverPoint
    text = QgsTextFormat()
    text.setSize(8)
    buffer = QgsTextBufferSettings()
    buffer.setEnabled(True)
    buffer.setSize(0.8)
    text.setBuffer(buffer)
    settings.setFormat(text)
    layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))
    layer.setLabelsEnabled(True)


def palette_classes(layer, record=None):
    """Paletted class raster with the label names stored in the file (`record`, read when not
    given); the legend lists the labels the raster holds (as the labelled tiles' legend does),
    in the colours of all."""
    record = layer_record(layer) if record is None else record
    classes = record.get("classes", {})
    present = class_values_present(layer.source())
    entries = [QgsPalettedRasterRenderer.Class(int(value), colour, name)
               for (value, name), colour in zip(sorted(classes.items(), key=lambda kv: int(kv[0])),
                                                palette(len(classes)))
               if int(value) in present]
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, entries))


def graduate_by_rank(layer, classes=5):
    """Search results coloured by rank in `classes` groups, the legend saying "ranks 1–4 (best
    matches)" rather than raw similarity scores, which users cannot read."""
    ranks = sorted(v for v in layer.uniqueValues(layer.fields().indexOf("rank")) if v is not None)
    chunks = [chunk for chunk in _split(ranks, classes) if chunk]
    ranges = []
    for number, chunk in enumerate(chunks):
        label = f"rank {chunk[0]}" if len(chunk) == 1 else f"ranks {chunk[0]}–{chunk[-1]}"
        if number == 0:
            label += " (best matches)"
        elif number == len(chunks) - 1:
            label += " (weakest listed)"
        colour = RANK_COLOURS[min(number * len(RANK_COLOURS) // len(chunks),
                                  len(RANK_COLOURS) - 1)]
        symbol = QgsFillSymbol.createSimple({"color": colour, "outline_color": "#303030",
                                             "outline_width": "0.3"})
        symbol.setOpacity(0.6)
        ranges.append(QgsRendererRange(chunk[0] - 0.5, chunk[-1] + 0.5, symbol, label))
    layer.setRenderer(QgsGraduatedSymbolRenderer("rank", ranges))


def mark_changes(layer):
    """Changed tiles in red, unchanged ones as thin outlines; "forest -> bare soil" written on
    the changed tiles when the layer has labels."""
    styles = (("1", "#d7301f", 0.55, "changed"), ("0", "#00000000", 1.0, "unchanged"))
    categories = []
    for value, colour, opacity, label in styles:
        symbol = QgsFillSymbol.createSimple({"color": colour, "outline_color": "#404040",
                                             "outline_width": "0.15"})
        symbol.setOpacity(opacity)
        categories.append(QgsRendererCategory(int(value), symbol, label))
    layer.setRenderer(QgsCategorizedSymbolRenderer("changed", categories))
    if layer.fields().indexOf("transition") >= 0:
        write_labels_on_tiles(layer, "transition")
        settings = layer.labeling().settings()
        settings.dataDefinedProperties().setProperty(
            QgsPalLayerSettings.Show, QgsProperty.fromExpression('"changed" = 1'))
        layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))


def graduate_by_data(layer):
    """Re-break a graduated style (the mask's `mean_score`) at this layer's own values.

    The renderer is replaced, not changed in place: only a new renderer tells the Layers panel
    to redraw the legend, which otherwise kept the style file's classes (0.5 - 1) now and then.
    """
    renderer = layer.renderer().clone()
    renderer.updateClasses(layer, len(renderer.ranges()) or 5)
    name = renderer.classAttribute().replace("_", " ")  # mean_score: "mean score 0.20 – 0.28"
    for number, band in enumerate(renderer.ranges()):
        renderer.updateRangeLabel(
            number, f"{name} {band.lowerValue():.2f} – {band.upperValue():.2f}")
    layer.setRenderer(renderer)


def _split(values, parts):
    size, extra = divmod(len(values), max(1, parts))
    chunks, start = [], 0
    for number in range(parts):
        stop = start + size + (1 if number < extra else 0)
        chunks.append(values[start:stop])
        start = stop
    return chunks


def pseudocolour(layer, low=None, high=None, ends=("weakest match", "strongest match")):
    """Heat-map colours (dark blue to red) from `low` to `high` (default: band min/max), the
    legend naming what its two ends mean."""
    if low is None or high is None:
        stats = layer.dataProvider().bandStatistics(1, QgsRasterBandStats.Min |
                                                    QgsRasterBandStats.Max)
        low, high = stats.minimumValue, stats.maximumValue
    colours = ["#30123b", "#4686fb", "#1be5b5", "#a4fc3c", "#fbb938", "#d23105"]
    steps = len(colours) - 1
    values = [low + (high - low) * i / steps for i in range(len(colours))]
    labels = [f"{v:.2f}" for v in values]
    labels[0], labels[-1] = f"{ends[0]} ({labels[0]})", f"{ends[1]} ({labels[-1]})"
    items = [QgsColorRampShader.ColorRampItem(value, QColor(colour), label)
             for value, colour, label in zip(values, colours, labels)]
    ramp = QgsColorRampShader(low, high)
    ramp.setColorRampType(QgsColorRampShader.Interpolated)
    ramp.setColorRampItemList(items)
    # QGIS draws an interpolated ramp's legend as one gradient with its own end labels (the
    # items' labels are not shown), so the words go there too.
    legend = QgsColorRampLegendNodeSettings()
    legend.setMinimumLabel(labels[0])
    legend.setMaximumLabel(labels[-1])
    ramp.setLegendSettings(legend)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(ramp)
    layer.setRenderer(QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader))
    layer.renderer().setOpacity(0.7)


class StyleOnLoad(QgsProcessingLayerPostProcessorInterface):
    """Applies a named style to a result layer once QGIS has loaded it."""

    def __init__(self, style, labels=None):
        super().__init__()
        self.style, self.labels = style, labels

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS API)
        forget_undefined_crs(layer)
        record = layer_record(layer)
        self.apply(layer, record)
        project = context.project() if context is not None else None
        if project is not None:
            node = project.layerTreeRoot().findLayer(layer.id())
            if node is not None and node.parent() is project.layerTreeRoot():
                # unless QGIS put it in a group (above the selected layer, or Processing's own
                # results group, a user setting)
                place_in_results_group(layer, project)
            keep_tiles_over_classes(project, sip.unwrapinstance(context), layer, self.style)
            name_band_in_legend(project, layer)
        show_record(layer, record)  # after the name got its number, if it did

    def apply(self, layer, record=None):
        """Set the named style on `layer` (`record`: its file's TerraLens record, if read)."""
        if self.style == "labels":
            categorise_by_label(layer, self.labels, record)
        elif self.style == "classes":
            palette_classes(layer, record)
        elif self.style == "heatmap":
            pseudocolour(layer)
        elif self.style == "probability":
            pseudocolour(layer, 0.0, 1.0, ends=("background", "the prompt"))
        elif self.style == "search":
            graduate_by_rank(layer)
        elif self.style == "changes":
            mark_changes(layer)
        elif self.style == "change":
            pseudocolour(layer, ends=("unchanged", "most changed"))
        else:
            layer.loadNamedStyle(str(STYLE_DIR / f"{self.style}.qml"))
            if isinstance(layer.renderer(), QgsGraduatedSymbolRenderer):
                graduate_by_data(layer)
        layer.triggerRepaint()


def name_band_in_legend(project, layer):
    """Head a heat-map's or class raster's legend with its band's name ("Band 1: score of
    'water'", "Band 1: best label") without the "(Gray)" QGIS adds: GeoTIFF gives band 1 of a
    one-band file a grey colour interpretation, which says nothing about a coloured raster."""
    node = project.layerTreeRoot().findLayer(layer.id())
    if node is None or not isinstance(layer.renderer(), (QgsSingleBandPseudoColorRenderer,
                                                         QgsPalettedRasterRenderer)):
        return
    QgsMapLayerLegendUtils.setLegendNodeUserLabel(node, 0, layer.bandName(1))
    layer.legend().itemsChanged.emit()  # the layers panel reads the label when it redraws


def keep_tiles_over_classes(project, run, layer, style=None):
    """Put the raster result of a Processing run (`run`: the address of its context) directly
    under its vector result. QGIS loads a run's outputs in the order of their file names, above
    whichever layer is selected, so a class raster could otherwise hide its own labelled tiles.
    A raster that says what its polygons say (`HIDDEN_UNDER_POLYGONS`) comes unticked."""
    kind = "vector" if layer.type() == QgsMapLayerType.VectorLayer else "raster"
    outputs = _layers_of_run.setdefault(run, {})
    outputs[kind] = layer.id()
    if kind == "raster":
        outputs["raster_style"] = style
    for old in list(_layers_of_run)[:-32]:
        del _layers_of_run[old]
    if "vector" in outputs and "raster" in outputs:
        put_under(project, outputs["raster"], outputs["vector"])
        node = project.layerTreeRoot().findLayer(outputs["raster"])
        if node is not None and outputs.get("raster_style") in HIDDEN_UNDER_POLYGONS:
            node.setItemVisibilityChecked(False)


def show_record(layer, record=None):
    """Put what made a result, and how far to trust it, in its QGIS metadata (the abstract
    shown on the layer's Information page): QGIS does not show the file's own metadata."""
    record = layer_record(layer) if record is None else record
    if not record:
        return
    metadata = layer.metadata()
    metadata.setTitle(layer.name())
    metadata.setAbstract(record_summary(record))
    layer.setMetadata(metadata)


def forget_undefined_crs(layer):
    """Give no CRS to a result GDAL wrote without one. A GeoPackage cannot hold "no CRS": GDAL
    writes "Undefined geographic SRS", which QGIS would project as degrees, while the raster it
    came from (without a CRS) is drawn as it is, in its pixel coordinates."""
    if layer.type() == QgsMapLayerType.VectorLayer and layer.crs().isValid() \
            and layer.crs().description() in UNDEFINED_CRS_NAMES:
        layer.setCrs(QgsCoordinateReferenceSystem())


def style_on_load(style, labels=None):
    """A post-processor applying `style` (kept alive for as long as QGIS may call it); `labels`:
    the user's label order, which the label colours follow."""
    processor = StyleOnLoad(style, labels)
    _alive.append(processor)
    del _alive[:-32]
    return processor
