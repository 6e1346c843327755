"""Result layers on the main thread: load, style and group them; zoom to a tile."""

from qgis.core import QgsCoordinateTransform, QgsProject, QgsRectangle, QgsVectorLayer

from ..common.result_layers import place_in_results_group
from ..common.styles import StyleOnLoad


def add_result_layer(path, name, style, project=None):
    """Load a result file, style it (`common.styles` names) and put it first in the results
    group, replacing an older result of the same name (the same query asked again).

    Raises:
        OSError: the file cannot be read as a vector layer.
    """
    layer = QgsVectorLayer(str(path), name, "ogr")
    if not layer.isValid():
        raise OSError(f"the result file {path} cannot be opened: check the disk is not full")
    StyleOnLoad(style).postProcessLayer(layer, None, None)
    place_in_results_group(layer, project, replace_same_name=True)
    return layer


def footprint_rectangle(corners):
    """The bounding rectangle of a tile's corner coordinates."""
    xs = [x for x, _y in corners]
    ys = [y for _x, y in corners]
    return QgsRectangle(min(xs), min(ys), max(xs), max(ys))


def zoom_to(canvas, rectangle, crs, margin=0.5):
    """Show `rectangle` (in `crs`) on the canvas with a margin of `margin` times its size."""
    transform = QgsCoordinateTransform(crs, canvas.mapSettings().destinationCrs(),
                                       QgsProject.instance())
    target = transform.transformBoundingBox(rectangle)
    target.scale(1.0 + 2 * margin)
    canvas.setExtent(target)
    canvas.refresh()
    return target


def select_rank(layer, rank):
    """Select the feature with rank `rank` in a search layer; return its id (or None)."""
    for feature in layer.getFeatures():
        if feature["rank"] == rank:
            layer.selectByIds([feature.id()])
            return feature.id()
    layer.removeSelection()
    return None
