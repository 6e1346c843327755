"""Result layers on the main thread: the results group, a tile's rectangle, selecting a rank."""

import pytest
from qgis.core import QgsCoordinateReferenceSystem, QgsProject

from terralens.plugin.common.result_layers import results_group
from terralens.plugin.core import pipeline
from terralens.plugin.gui.results import add_result_layer, footprint_rectangle, select_rank, zoom_to


@pytest.fixture
def hits_file(tmp_path, wordpiece_model, spacenet):
    index, _, _ = pipeline.index_raster(spacenet, wordpiece_model, cache_dir=tmp_path)
    out = tmp_path / "hits.gpkg"
    hits = pipeline.search([index], wordpiece_model, "roofs", k=5, out_path=out)
    return out, hits


def test_result_layers_go_first_into_one_group_and_a_repeated_query_replaces(hits_file):
    path, _ = hits_file
    first = add_result_layer(path, "Search: roofs", "search")
    second = add_result_layer(path, "Search: roads", "search")
    group = results_group()
    assert [node.layer() for node in group.findLayers()] == [second, first]
    again = add_result_layer(path, "Search: roofs", "search")
    assert [node.layer() for node in group.findLayers()] == [again, second]
    assert QgsProject.instance().layerTreeRoot().children()[0] is group
    with pytest.raises(OSError, match="cannot be opened"):
        add_result_layer(path.parent / "missing.gpkg", "x", "search")


def test_select_rank_and_zoom_to_a_tile(hits_file, stub_iface):
    path, hits = hits_file
    layer = add_result_layer(path, "Search: roofs", "search")
    assert select_rank(layer, 3) is not None
    assert [f["rank"] for f in layer.selectedFeatures()] == [3]
    assert select_rank(layer, 99) is None and layer.selectedFeatureCount() == 0
    rectangle = footprint_rectangle(hits[0]["footprint"])
    canvas = stub_iface.canvas
    canvas.setDestinationCrs(layer.crs())
    shown = zoom_to(canvas, rectangle, QgsCoordinateReferenceSystem("EPSG:32616"))
    assert shown.contains(rectangle) and shown.width() == pytest.approx(2 * rectangle.width())
