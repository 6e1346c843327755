"""Change results get their style: changed tiles in red with their transition, a heat-map."""

import numpy as np
from gdal_files import make_tif
from osgeo import gdal
from qgis.core import QgsPalLayerSettings, QgsRasterLayer, QgsVectorLayer

from terralens.plugin.common.styles import style_on_load
from terralens.plugin.core.outputs import PolygonWriter


def test_changed_tiles_are_red_and_say_what_they_became(qgis_app, tmp_path):
    out = tmp_path / "changes.gpkg"
    fields = [("change", "float"), ("changed", "int"), ("transition", "str")]
    with PolygonWriter(out, "", fields, "changes") as writer:
        writer.add([(0, 0), (1, 0), (1, 1), (0, 1)], {"change": 0.02, "changed": 0,
                                                      "transition": "forest"})
        writer.add([(1, 0), (2, 0), (2, 1), (1, 1)], {"change": 0.8, "changed": 1,
                                                      "transition": "forest -> houses"})
    layer = QgsVectorLayer(str(out), "changes", "ogr")
    style_on_load("changes").postProcessLayer(layer, None, None)
    renderer = layer.renderer()
    assert renderer.type() == "categorizedSymbol" and renderer.classAttribute() == "changed"
    assert [(c.value(), c.label()) for c in renderer.categories()] == [
        (1, "changed"), (0, "unchanged")]
    settings = layer.labeling().settings()
    assert layer.labelsEnabled() and settings.fieldName == "transition"
    shown = settings.dataDefinedProperties().property(QgsPalLayerSettings.Show)
    assert shown.expressionString() == '"changed" = 1', "only changed tiles are labelled"


def test_change_heatmap_names_its_ends(qgis_app, tmp_path):
    heat = tmp_path / "change.tif"
    make_tif(heat, [np.linspace(0, 1, 64).reshape(8, 8)], dtype=gdal.GDT_Float32)
    layer = QgsRasterLayer(str(heat), "change")
    style_on_load("change").postProcessLayer(layer, None, None)
    ramp = layer.renderer().shader().rasterShaderFunction().colorRampItemList()
    assert ramp[0].label == "unchanged (0.00)" and ramp[-1].label == "most changed (1.00)"
