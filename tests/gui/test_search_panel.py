"""The Search panel: query, index once, answers from memory, results on the map, errors."""


from gui_steps import bar_texts, result_layers, search, wait_for
from qgis.core import QgsApplication, QgsCoordinateReferenceSystem, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import Qt

import terralens
from terralens.plugin.core import registry
from terralens.plugin.gui.history import load_history
from terralens.plugin.gui.search_panel import SearchPanel
from terralens.plugin.gui.settings import Settings, save_settings


def test_panel_search_builds_the_index_once_then_answers_from_memory(panel, stub_iface, tiny,
                                                                     use_tiny):
    assert panel.selected_rasters() == [("atlanta pan", stub_iface.active_layer.source())]
    progress, tasks = [], []
    panel.progress.valueChanged.connect(progress.append)
    QgsApplication.taskManager().taskAdded.connect(tasks.append)
    search(panel, "houses with a pool")
    QgsApplication.taskManager().taskAdded.disconnect(tasks.append)
    assert len(tasks) == 1, "the search ran as a task of QGIS's task manager"
    assert progress and max(progress) > 50, "the panel showed the indexing progress"
    assert panel.status.text().startswith("20 tiles"), panel.status.text()
    layers = result_layers()
    assert [layer.name() for layer in layers] == ["Search: houses with a pool (atlanta pan)"]
    features = sorted(layers[0].getFeatures(), key=lambda f: f["rank"])
    assert [f["rank"] for f in features] == list(range(1, 21))
    scores = [f["score"] for f in features]
    assert scores == sorted(scores, reverse=True)
    assert layers[0].renderer().type() == "graduatedSymbol"  # the search style
    assert panel.result_list.count() == 20
    first = panel.result_list.item(0)
    assert first.text().startswith("1.  score ") and "atlanta pan" in first.text()
    assert " m tile at " in first.text() and "higher is closer" in first.toolTip()
    calls = registry.cached_model(tiny).image.calls
    assert calls > 0 and len(panel.memory) == 1

    search(panel, "parking lot")
    assert registry.cached_model(tiny).image.calls == calls, "no tile was encoded again"
    assert [layer.name() for layer in result_layers()] == [
        "Search: parking lot (atlanta pan)", "Search: houses with a pool (atlanta pan)"]
    assert load_history(QgsProject.instance()) == ["parking lot", "houses with a pool"]
    offered = [panel.query_box.itemText(i) for i in range(panel.query_box.count())]
    assert offered == ["parking lot", "houses with a pool"]


def test_panel_reuses_an_index_built_by_the_processing_algorithm(panel, tiny, spacenet,
                                                                  use_tiny):
    import processing

    plugin = terralens.classFactory(None)
    plugin.initProcessing()
    try:
        processing.run("terralens:buildindex", {"INPUT": [spacenet], "MODEL": tiny})
    finally:
        plugin.unload()
    calls = registry.cached_model(tiny).image.calls
    search(panel, "roads")
    assert registry.cached_model(tiny).image.calls == calls
    assert len(result_layers()) == 1


def test_panel_search_over_two_utm_zones_puts_every_hit_in_place(panel, raster, tmp_path,
                                                                  use_tiny):
    from osgeo import gdal

    zone17 = str(tmp_path / "atlanta_utm17.tif")
    gdal.Warp(zone17, raster.source(), dstSRS="EPSG:32617")
    QgsProject.instance().addMapLayer(QgsRasterLayer(zone17, "atlanta 17N"))
    QgsProject.instance().setCrs(raster.crs())  # results come in the project's CRS
    for item in panel._items():
        item.setCheckState(Qt.CheckState.Checked)
    panel.k_box.setValue(200)
    search(panel, "houses")
    layer = result_layers()[0]
    assert {f["raster"] for f in layer.getFeatures()} == {raster.source(), zone17}
    scene = raster.extent().buffered(60.0)
    assert layer.crs() == raster.crs()
    assert all(scene.contains(f.geometry().boundingBox()) for f in layer.getFeatures())
    for row in range(panel.result_list.count()):
        _rank, corners, _crs = panel.result_list.item(row).data(Qt.ItemDataRole.UserRole)
        assert all(scene.contains(x, y) for x, y in corners)


def test_clicking_a_result_zooms_to_it_and_selects_it(panel, stub_iface, raster, use_tiny):
    canvas = stub_iface.canvas
    canvas.setDestinationCrs(raster.crs())
    canvas.setExtent(raster.extent())
    search(panel, "trees")
    item = panel.result_list.item(2)
    rank, corners, _crs = item.data(Qt.ItemDataRole.UserRole)
    panel.zoom_to_item(item)
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    extent = canvas.extent()
    assert extent.xMinimum() <= min(xs) and extent.xMaximum() >= max(xs)
    assert extent.yMinimum() <= min(ys) and extent.yMaximum() >= max(ys)
    # zoomed in on the tile (the canvas widget's aspect ratio widens one side)
    assert min(extent.width(), extent.height()) < raster.extent().width() / 3
    assert abs(extent.center().x() - (min(xs) + max(xs)) / 2) < 1.0
    layer = result_layers()[0]
    assert [f["rank"] for f in layer.selectedFeatures()] == [rank]


def test_cancel_adds_nothing(panel, use_tiny):
    panel.query_box.setEditText("roads")
    panel.run_query()
    panel.cancel()
    wait_for(lambda: panel.task is None)
    assert panel.status.text().startswith("Cancelled")
    assert result_layers() == []


def test_search_errors_go_to_the_message_bar(panel, stub_iface, tmp_path):
    save_settings(Settings(default_bundle=str(tmp_path / "no-such-bundle")))
    search(panel, "roads")
    texts = bar_texts(stub_iface)
    assert texts and "no-such-bundle" in texts[-1]
    assert panel.status.text().startswith("Search failed")
    assert result_layers() == []


def test_panel_needs_a_query_and_a_raster(stub_iface, qgis_app):
    panel = SearchPanel(stub_iface, stub_iface.window)
    try:
        panel.run_query("   ")
        assert "Type what you look for" in panel.status.text()
        panel.run_query("roads")
        assert "Tick at least one raster" in panel.status.text() and panel.task is None
    finally:
        panel.disconnect_project()


def test_panel_refuses_to_search_without_onnxruntime(no_onnxruntime, panel, stub_iface):
    panel.run_query("roads")
    assert panel.task is None and "onnxruntime is missing" in panel.status.text()
    assert bar_texts(stub_iface)[0].startswith("needs onnxruntime")


def test_result_rasters_are_not_offered_for_search(panel, raster, tmp_path):
    import numpy as np

    from terralens.plugin.core.outputs import write_geotiff

    heat = tmp_path / "heat.tif"
    write_geotiff(heat, np.zeros((4, 4), np.float32), (0, 1, 0, 4, 0, -1), "",
                  metadata={"model_id": "tiny-wordpiece", "query": "roads"})
    QgsProject.instance().addMapLayer(QgsRasterLayer(str(heat), "Similarity: roads"))
    panel.refresh_rasters()
    assert [name for name, _ in panel.selected_rasters()] == ["atlanta pan"]
    assert [panel.raster_list.item(i).text() for i in range(panel.raster_list.count())] == [
        "atlanta pan"]


def test_a_raster_without_georeferencing_is_searched_in_its_pixel_coordinates(
        stub_iface, spacenet, tmp_path, use_tiny):
    """QGIS draws a raster without a CRS in pixel coordinates (x = column, y = -row); the panel
    must not ask for it in the project's CRS, which it cannot be placed in."""
    from osgeo import gdal

    plain = tmp_path / "plain.tif"
    source = gdal.Open(spacenet)
    copy = gdal.GetDriverByName("GTiff").Create(str(plain), source.RasterXSize,
                                                source.RasterYSize, 1, gdal.GDT_UInt16)
    copy.GetRasterBand(1).WriteArray(source.ReadAsArray())
    copy = source = None
    layer = QgsRasterLayer(str(plain), "no crs")
    assert layer.isValid() and not layer.crs().isValid()
    QgsProject.instance().addMapLayer(layer)
    QgsProject.instance().setCrs(QgsCoordinateReferenceSystem("EPSG:32616"))
    stub_iface.canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:32616"))
    stub_iface.active_layer = layer
    panel = SearchPanel(stub_iface, stub_iface.window)
    try:
        search(panel, "roads")
        assert panel.status.text().startswith("20 tiles"), panel.status.text()
        (result,) = result_layers()
        assert not result.crs().isValid(), "drawn as it is, like its raster: not as degrees"
        inside = layer.extent().buffered(1.0)
        assert all(inside.contains(f.geometry().boundingBox()) for f in result.getFeatures())
        assert " px tile at " in panel.result_list.item(0).text()
        panel.zoom_to_item(panel.result_list.item(0))  # raised QgsCsException before
        assert inside.contains(stub_iface.canvas.extent().center())
        panel.result_list.setCurrentRow(0)
        panel.more_like_this()
        wait_for(lambda: panel.task is None)
        assert panel.status.text().startswith("20 tiles"), panel.status.text()
    finally:
        panel.disconnect_project()


def test_ticks_the_user_changed_stay_when_layers_come_and_go(panel, raster, stub_iface,
                                                              spacenet, tmp_path, use_tiny):
    other = QgsRasterLayer(spacenet, "second")
    QgsProject.instance().addMapLayer(other)
    items = {panel.raster_list.item(i).text(): panel.raster_list.item(i)
             for i in range(panel.raster_list.count())}
    assert [name for name, _ in panel.selected_rasters()] == ["atlanta pan"]
    items["atlanta pan"].setCheckState(Qt.CheckState.Unchecked)  # active, yet unticked
    items["second"].setCheckState(Qt.CheckState.Checked)
    search(panel, "houses")  # adds its result layer to the project
    assert [name for name, _ in panel.selected_rasters()] == ["second"]
    assert panel.last_rasters == [("second", spacenet)]


def test_a_new_project_forgets_the_listed_results(panel, use_tiny):
    search(panel, "roads")
    assert panel.result_list.count() == 20
    QgsProject.instance().clear()
    assert panel.result_list.count() == 0 and panel.last_rasters == []
    assert not panel.like_button.isEnabled()
    panel.more_like_this()
    assert panel.task is None and "Select a result first" in panel.status.text()
