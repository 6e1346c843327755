"""Result layers get their style when loaded: labels by category, search by score, rasters."""

import numpy as np
from gdal_files import make_tif
from osgeo import gdal
from qgis.core import (
    QgsLayerTreeLayer,
    QgsLayerTreeModel,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import Qt

from terralens.plugin.common.styles import palette, style_on_load
from terralens.plugin.core import pipeline
from terralens.plugin.core.outputs import write_geotiff


def legend_nodes(layer):
    return layer.legend().createLayerTreeModelLegendNodes(QgsLayerTreeLayer(layer))


def test_palette_gives_distinct_colours():
    colours = [c.name() for c in palette(12)]
    assert len(set(colours)) == 12


def test_labels_are_categorised_and_search_results_graduated_by_rank(qgis_app, tmp_path,
                                                                     wordpiece_model, spacenet):
    out = tmp_path / "labels.gpkg"
    pipeline.label_raster(spacenet, wordpiece_model, "roofs, trees, roads", out)
    layer = QgsVectorLayer(str(out), "labels", "ogr")
    style_on_load("labels").postProcessLayer(layer, None, None)
    renderer = layer.renderer()
    assert renderer.type() == "categorizedSymbol" and renderer.classAttribute() == "label"
    labels = {f["label"] for f in layer.getFeatures()}
    assert {c.value() for c in renderer.categories()} == labels
    colours = {c.value(): c.symbol().color().name() for c in renderer.categories()}
    given = dict(zip(["roofs", "trees", "roads"], [c.name() for c in palette(3)]))
    assert all(colours[label] == given[label] for label in labels), "the class raster's colours"
    assert layer.labelsEnabled() and layer.labeling().settings().fieldName == "label"
    abstract = layer.metadata().abstract()  # QGIS's Information page shows it
    assert abstract.startswith("Made by TerraLens with the model tiny-wordpiece")
    assert "\nScale: " in abstract and "Labels refined with all tiles together" in abstract
    index, _, _ = pipeline.index_raster(spacenet, wordpiece_model, cache_dir=tmp_path)
    pipeline.search([index], wordpiece_model, "roofs", k=8, out_path=tmp_path / "hits.gpkg")
    hits = QgsVectorLayer(str(tmp_path / "hits.gpkg"), "hits", "ogr")
    style_on_load("search").postProcessLayer(hits, None, None)
    renderer = hits.renderer()
    assert renderer.type() == "graduatedSymbol" and renderer.classAttribute() == "rank"
    assert [r.label() for r in renderer.ranges()] == [
        "ranks 1–2 (best matches)", "ranks 3–4", "ranks 5–6", "rank 7", "rank 8 (weakest listed)"]


def test_rasters_get_pseudocolour_and_classes_a_palette(qgis_app, tmp_path):
    heat = tmp_path / "heat.tif"
    make_tif(heat, [np.linspace(0, 1, 64).reshape(8, 8)], dtype=gdal.GDT_Float32)
    layer = QgsRasterLayer(str(heat), "heat")
    style_on_load("heatmap").postProcessLayer(layer, None, None)
    assert layer.renderer().type() == "singlebandpseudocolor"
    ramp = layer.renderer().shader().rasterShaderFunction().colorRampItemList()
    assert ramp[0].label == "weakest match (0.00)" and ramp[-1].label == "strongest match (1.00)"
    gradient = legend_nodes(layer)[-1].settings()  # what the Layers panel draws
    assert (gradient.minimumLabel(), gradient.maximumLabel()) == (
        "weakest match (0.00)", "strongest match (1.00)")
    classes = tmp_path / "classes.tif"
    write_geotiff(classes, np.array([[1, 2], [2, 0]], np.uint8), (0, 1, 0, 2, 0, -1), "",
                  nodata=0, metadata={"classes": {"1": "forest", "2": "water"}})
    layer = QgsRasterLayer(str(classes), "classes")
    style_on_load("classes").postProcessLayer(layer, None, None)
    assert layer.renderer().type() == "paletted"
    assert [c.label for c in layer.renderer().classes()] == ["forest", "water"]
    some = tmp_path / "some.tif"  # a label no tile got is left out, the colours kept
    write_geotiff(some, np.array([[1, 3], [3, 0]], np.uint8), (0, 1, 0, 2, 0, -1), "",
                  nodata=0, metadata={"classes": {"1": "forest", "2": "water", "3": "roads"}})
    layer = QgsRasterLayer(str(some), "some")
    style_on_load("classes").postProcessLayer(layer, None, None)
    colours = [c.name() for c in palette(3)]
    assert [(c.label, c.color.name()) for c in layer.renderer().classes()] == [
        ("forest", colours[0]), ("roads", colours[2])]


def test_mask_legend_shows_the_classes_of_its_own_scores(qgis_app, tmp_path, spacenet,
                                                         wordpiece_model):
    out = tmp_path / "mask.gpkg"
    pipeline.prompt_mask(spacenet, wordpiece_model, "building", out, threshold=0.2)
    layer = QgsVectorLayer(str(out), "mask", "ogr")
    project = QgsProject()
    project.addMapLayer(layer)
    model = QgsLayerTreeModel(project.layerTreeRoot())  # the Layers panel's legend
    node = project.layerTreeRoot().findLayer(layer.id())
    before = [n.data(Qt.DisplayRole) for n in model.layerLegendNodes(node)]
    style_on_load("mask").postProcessLayer(layer, None, None)
    ranges = layer.renderer().ranges()
    assert ranges[0].lowerValue() >= 0.2 - 1e-9 and ranges[0].label().startswith("mean score ")
    shown = [n.data(Qt.DisplayRole) for n in model.layerLegendNodes(node)]
    assert shown == [r.label() for r in ranges] and shown != before
