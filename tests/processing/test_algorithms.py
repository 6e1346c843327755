"""Every algorithm through processing.run in an offscreen QGIS, on real GeoTIFFs."""

import numpy as np
import pytest
from osgeo import gdal, osr
from qgis.core import (
    QgsMapLayerType,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsRasterLayer,
    QgsVectorLayer,
)

from terralens.plugin.core import registry
from terralens.plugin.core.outputs import read_metadata

pytestmark = pytest.mark.usefixtures("provider")


def run(algorithm, feedback=None, **parameters):
    import processing

    return processing.run(f"terralens:{algorithm}", parameters, feedback=feedback)


def vector(path):
    layer = QgsVectorLayer(str(path), "out", "ogr")
    assert layer.isValid(), path
    return layer


def test_zeroshotlabel_writes_labelled_tiles(tmp_path, ortho, tiny):
    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("parking lot\nhouses\n")
    result = run("zeroshotlabel", INPUT=ortho, LABELS="forest, river", LABELS_FILE=str(labels_file),
                 MODEL=tiny, TILE_SIZE=128, OUTPUT=str(tmp_path / "labels.gpkg"),
                 CLASS_RASTER=str(tmp_path / "classes.tif"))
    layer = vector(result["OUTPUT"])
    assert layer.crs().authid() == "EPSG:32633"
    names = layer.fields().names()
    for field in ("label", "score", "label_2", "score_2", "label_3", "score_3"):
        assert field in names
    assert layer.featureCount() == 70  # 10 x 7 tiles of 128 px over 1243 x 841, none nodata
    labels = {f["label"] for f in layer.getFeatures()}
    assert labels <= {"forest", "river", "parking lot", "houses"}
    raster = QgsRasterLayer(result["CLASS_RASTER"], "classes")
    assert raster.isValid() and raster.crs().authid() == "EPSG:32633"
    record = read_metadata(result["OUTPUT"])
    assert record["model_id"] == "tiny-wordpiece"
    assert record["parameters"]["labels"] == ["forest", "river", "parking lot", "houses"]


def test_rotations_reach_the_tiling_and_masks_have_none(tmp_path, spacenet, tiny, provider):
    for views in (1, 3):
        result = run("zeroshotlabel", INPUT=spacenet, LABELS="road, trees", MODEL=tiny,
                     TILE_SIZE=128, VIEWS=views, OUTPUT=str(tmp_path / f"labels{views}.gpkg"))
        assert read_metadata(result["OUTPUT"])["tiling"]["views"] == views
    algorithms = {algorithm.name(): algorithm for algorithm in provider.algorithms()}
    assert algorithms["zeroshotlabel"].parameterDefinition("VIEWS").defaultValue() == 3
    assert algorithms["promptmask"].parameterDefinition("VIEWS") is None


def test_buildindex_then_textsearch_reuses_the_index(tmp_path, spacenet, tiny):
    cache = str(tmp_path / "cache")
    built = run("buildindex", INPUT=[spacenet], MODEL=tiny, TILE_SIZE=128, CACHE_DIR=cache)
    assert built["TILES"] == 64
    model = registry.cached_model(tiny)
    calls = model.image.calls
    first = run("textsearch", INPUT=[spacenet], QUERY="houses with a pool", K=5, MODEL=tiny,
                TILE_SIZE=128, CACHE_DIR=cache, OUTPUT=str(tmp_path / "hits.gpkg"),
                HEATMAP=str(tmp_path / "heat.tif"))
    second = run("textsearch", INPUT=[spacenet], QUERY="a parking lot", NEGATIVE="trees, grass",
                 K=3, MODEL=tiny, TILE_SIZE=128, CACHE_DIR=cache,
                 OUTPUT=str(tmp_path / "hits2.gpkg"))
    assert model.image.calls == calls, "the searches did not re-embed the raster"
    layer = vector(first["OUTPUT"])
    rows = sorted(layer.getFeatures(), key=lambda f: f["rank"])
    assert [f["rank"] for f in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["score"] >= rows[-1]["score"] and rows[0]["query"] == "houses with a pool"
    assert layer.crs().authid() == "EPSG:32616"
    assert vector(second["OUTPUT"]).featureCount() == 3
    assert QgsRasterLayer(first["HEATMAP"], "heat").isValid()


def test_textsearch_over_two_utm_zones_reprojects_the_hits(tmp_path, spacenet, tiny):
    zone17 = str(tmp_path / "atlanta_utm17.tif")
    gdal.Warp(zone17, spacenet, dstSRS="EPSG:32617")
    common = dict(INPUT=[spacenet, zone17], QUERY="houses", K=500, MODEL=tiny, TILE_SIZE=128,
                  CACHE_DIR=str(tmp_path / "cache"))
    first = vector(run("textsearch", OUTPUT=str(tmp_path / "a.gpkg"), **common)["OUTPUT"])
    chosen = vector(run("textsearch", OUTPUT=str(tmp_path / "b.gpkg"), OUTPUT_CRS="EPSG:4326",
                        **common)["OUTPUT"])
    assert first.crs().authid() == "EPSG:32616" and chosen.crs().authid() == "EPSG:4326"
    assert {f["raster"] for f in first.getFeatures()} == {spacenet, zone17}
    scene = QgsRasterLayer(spacenet, "scene").extent().buffered(60.0)
    assert all(scene.contains(f.geometry().boundingBox()) for f in first.getFeatures())
    lon_lat = chosen.extent()
    assert -84.5 < lon_lat.xMinimum() < lon_lat.xMaximum() < -84.3
    assert 33.6 < lon_lat.yMinimum() < lon_lat.yMaximum() < 33.9


def test_promptmask_writes_polygons_and_probability(tmp_path, spacenet, tiny):
    result = run("promptmask", INPUT=spacenet, PROMPT="building", THRESHOLD=0.3, MODEL=tiny,
                 TILE_SIZE=128, OUTPUT=str(tmp_path / "mask.gpkg"),
                 PROBABILITY=str(tmp_path / "prob.tif"))
    layer = vector(result["OUTPUT"])
    assert set(layer.fields().names()) >= {"prompt", "mean_score", "area"}
    dataset = gdal.Open(result["PROBABILITY"])
    values = dataset.ReadAsArray()
    assert np.nanmax(values) <= 1 and np.nanmin(values) >= 0
    assert (layer.featureCount() > 0) == bool((values >= 0.3).any())
    for feature in layer.getFeatures():
        assert feature["mean_score"] >= 0.3 and feature["prompt"] == "building"


def test_promptmask_defaults_to_dense_with_an_automatic_threshold(tmp_path, spacenet, tiny):
    dense = run("promptmask", INPUT=spacenet, PROMPT="building", MODEL=tiny, TILE_SIZE=128,
                OUTPUT=str(tmp_path / "dense.gpkg"), PROBABILITY=str(tmp_path / "dense.tif"))
    assert gdal.Open(dense["PROBABILITY"]).RasterXSize == 900  # the raster's own pixels
    tiles = run("promptmask", INPUT=spacenet, PROMPT="building", MODEL=tiny, TILE_SIZE=128,
                METHOD=1, OUTPUT=str(tmp_path / "tiles.gpkg"),
                PROBABILITY=str(tmp_path / "tiles.tif"))
    assert gdal.Open(tiles["PROBABILITY"]).RasterXSize < 900  # the coarse mosaic of before
    assert vector(dense["OUTPUT"]).featureCount() > 0


def test_extent_and_mask_layer_limit_the_area(tmp_path, spacenet, tiny):
    dataset = gdal.Open(spacenet)
    x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
    extent = f"{x0},{x0 + 200 * dx},{y0 + 200 * dy},{y0} [EPSG:32616]"
    by_extent = run("zeroshotlabel", INPUT=spacenet, LABELS="a,b", MODEL=tiny, TILE_SIZE=128,
                    EXTENT=extent, OUTPUT=str(tmp_path / "e.gpkg"))
    assert vector(by_extent["OUTPUT"]).featureCount() == 4
    mask = QgsVectorLayer("Polygon?crs=EPSG:32616", "mask", "memory")
    from qgis.core import QgsFeature, QgsGeometry

    feature = QgsFeature()
    feature.setGeometry(QgsGeometry.fromWkt(
        f"POLYGON(({x0 + 10} {y0 - 10}, {x0 + 20} {y0 - 10}, {x0 + 20} {y0 - 20}, "
        f"{x0 + 10} {y0 - 10}))"))
    mask.dataProvider().addFeature(feature)
    by_mask = run("zeroshotlabel", INPUT=spacenet, LABELS="a,b", MODEL=tiny, TILE_SIZE=128,
                  MASK=mask, OUTPUT=str(tmp_path / "m.gpkg"))
    assert vector(by_mask["OUTPUT"]).featureCount() == 1


def geographic_raster(path):
    data = np.random.default_rng(1).integers(0, 255, (3, 200, 300)).astype(np.uint8)
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), 300, 200, 3, gdal.GDT_Byte)
    dataset.SetGeoTransform((12.0, 0.00002, 0, 45.0, 0, -0.00002))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    dataset.SetProjection(srs.ExportToWkt())
    for band in range(3):
        dataset.GetRasterBand(band + 1).WriteArray(data[band])
    dataset = None
    return str(path)


def test_geographic_raster_gives_outputs_in_degrees(tmp_path, tiny):
    raster = geographic_raster(tmp_path / "geo.tif")
    result = run("zeroshotlabel", INPUT=raster, LABELS="a,b,c", MODEL=tiny, TILE_SIZE=64,
                 OUTPUT=str(tmp_path / "geo.gpkg"))
    layer = vector(result["OUTPUT"])
    assert layer.crs().authid() == "EPSG:4326"
    extent = layer.extent()
    assert 11.99 < extent.xMinimum() < extent.xMaximum() < 12.01


class CancelAfter(QgsProcessingFeedback):
    def __init__(self, progress_calls):
        super().__init__()
        self.left = progress_calls
        self.progressChanged.connect(self.tick)

    def tick(self, _):
        self.left -= 1
        if self.left <= 0:
            self.cancel()


def test_cancel_leaves_no_output(tmp_path, ortho, tiny):
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        run("zeroshotlabel", feedback=CancelAfter(2), INPUT=ortho, LABELS="a,b", MODEL=tiny,
            TILE_SIZE=64, BATCH_SIZE=4, OUTPUT=str(tmp_path / "labels.gpkg"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("parameters, message", [
    ({"LABELS": " , "}, "no labels"),
    ({"LABELS": "a,b", "BANDS": "1,2,7"}, "band"),
    ({"LABELS": "a,b", "VALUE_RANGE": "zero,3"}, "two numbers"),
    ({"LABELS": "a,b", "MODEL": "/nonexistent/model"}, "bundle"),
])
def test_bad_input_raises_clear_errors(tmp_path, spacenet, tiny, parameters, message):
    parameters = {"MODEL": tiny, **parameters}
    with pytest.raises(QgsProcessingException, match=message):
        run("zeroshotlabel", INPUT=spacenet, OUTPUT=str(tmp_path / "x.gpkg"), **parameters)
    assert not (tmp_path / "x.gpkg").exists()


def test_empty_prompt_and_query_are_refused(tmp_path, spacenet, tiny):
    with pytest.raises(QgsProcessingException, match="empty"):
        run("promptmask", INPUT=spacenet, PROMPT="  ", MODEL=tiny,
            OUTPUT=str(tmp_path / "m.gpkg"))
    with pytest.raises(QgsProcessingException, match="empty"):
        run("textsearch", INPUT=[spacenet], QUERY=" ", MODEL=tiny,
            OUTPUT=str(tmp_path / "s.gpkg"))


def sensors_bundle(repo_root):
    return str(repo_root / "tests" / "data" / "tiny-sensors")


def test_single_band_raster_gets_the_pan_encoder(tmp_path, spacenet, repo_root):
    result = run("zeroshotlabel", INPUT=spacenet, LABELS="roofs, trees", TILE_SIZE=64,
                 MODEL=sensors_bundle(repo_root), OUTPUT=str(tmp_path / "pan.gpkg"))
    assert read_metadata(result["OUTPUT"])["image_encoder"] == "pan"
    forced = run("zeroshotlabel", INPUT=spacenet, LABELS="roofs, trees", TILE_SIZE=64,
                 MODEL=sensors_bundle(repo_root), IMAGE_ENCODER="rgb",
                 OUTPUT=str(tmp_path / "rgb.gpkg"))
    assert read_metadata(forced["OUTPUT"])["image_encoder"] == "rgb"
    with pytest.raises(QgsProcessingException, match="no image encoder 'sar'"):
        run("zeroshotlabel", INPUT=spacenet, LABELS="roofs", MODEL=sensors_bundle(repo_root),
            IMAGE_ENCODER="sar", OUTPUT=str(tmp_path / "x.gpkg"))


def test_location_prior_is_recorded_and_needs_a_location_encoder(tmp_path, spacenet, tiny,
                                                                  repo_root):
    result = run("textsearch", INPUT=[spacenet], QUERY="roofs", K=5, TILE_SIZE=64,
                 MODEL=sensors_bundle(repo_root), LOCATION_WEIGHT=0.5,
                 CACHE_DIR=str(tmp_path / "cache"), OUTPUT=str(tmp_path / "hits.gpkg"))
    assert vector(result["OUTPUT"]).featureCount() == 5
    labels = run("zeroshotlabel", INPUT=spacenet, LABELS="roofs, trees", TILE_SIZE=64,
                 MODEL=sensors_bundle(repo_root), LOCATION_WEIGHT=0.5,
                 OUTPUT=str(tmp_path / "labels.gpkg"))
    assert read_metadata(labels["OUTPUT"])["parameters"]["location_weight"] == 0.5
    with pytest.raises(QgsProcessingException, match="no location encoder"):
        run("zeroshotlabel", INPUT=spacenet, LABELS="roofs", MODEL=tiny, LOCATION_WEIGHT=1.0,
            OUTPUT=str(tmp_path / "none.gpkg"))
    assert not (tmp_path / "none.gpkg").exists()


class Recorder(QgsProcessingFeedback):
    """Keeps what an algorithm says: phase texts, information lines and warnings."""

    def __init__(self):
        super().__init__()
        self.texts, self.infos, self.warnings = [], [], []

    def setProgressText(self, text):  # noqa: N802 (QGIS API)
        self.texts.append(text)

    def pushInfo(self, text):  # noqa: N802
        self.infos.append(text)

    def pushWarning(self, text):  # noqa: N802
        self.warnings.append(text)


def test_log_gets_phases_and_warnings_not_a_line_a_batch(tmp_path, ortho, tiny):
    feedback = Recorder()
    run("zeroshotlabel", feedback, INPUT=ortho, LABELS="trees, roofs", MODEL=tiny, TILE_SIZE=64,
        GSD=2.0, OUTPUT=str(tmp_path / "one.gpkg"))
    assert len(feedback.texts) <= 2, feedback.texts
    assert len(feedback.warnings) == 1 and "fits in one tile" in feedback.warnings[0]


def test_loaded_results_are_named_by_what_they_hold_and_grouped(tmp_path, ortho, tiny,
                                                               clean_qgis_state):
    import processing
    from qgis.core import QgsLayerTreeModel, QgsProject

    processing.runAndLoadResults("terralens:zeroshotlabel", {
        "INPUT": ortho, "LABELS": "trees, roofs, roads", "MODEL": tiny, "TILE_SIZE": 128,
        "OUTPUT": str(tmp_path / "labels.gpkg"), "CLASS_RASTER": str(tmp_path / "classes.tif")})
    group = QgsProject.instance().layerTreeRoot().findGroup("TerraLens results")
    names = sorted(node.layer().name() for node in group.findLayers())
    assert names == ["Classes: trees, roofs, roads (ortho_drone_small)",
                     "Labels: trees, roofs, roads (ortho_drone_small)"]
    for node in group.findLayers():  # the record, on QGIS's Information page
        assert node.layer().metadata().abstract().startswith("Made by TerraLens with the model")
    legend = QgsLayerTreeModel(QgsProject.instance().layerTreeRoot())
    classes = next(node for node in group.findLayers() if node.name().startswith("Classes"))
    assert legend.layerLegendNodes(classes)[0].data(0) == "Band 1: best label", "no '(Gray)'"


def test_labelled_tiles_lie_over_their_class_raster_in_its_colours(tmp_path, ortho, tiny,
                                                                   clean_qgis_state):
    """QGIS loads a run's outputs in the order of their file names: either order must end with
    the tiles on top, and a Shapefile (which keeps no label order) in the raster's colours."""
    from qgis.core import QgsLayerTreeRegistryBridge, QgsProject

    bridge = QgsProject.instance().layerTreeRegistryBridge()
    try:
        for vector_name, raster_name in (("a.shp", "b.tif"), ("d.shp", "c.tif"),
                                         ("e.shp", "f.tif")):
            group = QgsProject.instance().layerTreeRoot().findGroup("TerraLens results")
            if vector_name == "e.shp":  # QGIS adds layers above the selected one, here a result
                bridge.setLayerInsertionPoint(QgsLayerTreeRegistryBridge.InsertionPoint(group, 0))
            load_labels(tmp_path / vector_name, tmp_path / raster_name, ortho, tiny)
    finally:  # the group goes with the project: a later test must not add layers into it
        bridge.setLayerInsertionPoint(QgsLayerTreeRegistryBridge.InsertionPoint(
            QgsProject.instance().layerTreeRoot(), 0))


def load_labels(vector_path, raster_path, ortho, tiny):
    """Label tiles run and loaded as from the toolbox; the new tiles must lie over their class
    raster, in its colours."""
    import processing
    from qgis.core import QgsProject

    processing.runAndLoadResults("terralens:zeroshotlabel", {
        "INPUT": ortho, "LABELS": "trees, roofs, roads", "MODEL": tiny, "TILE_SIZE": 128,
        "OUTPUT": str(vector_path), "CLASS_RASTER": str(raster_path)})
    group = QgsProject.instance().layerTreeRoot().findGroup("TerraLens results")
    top_node, below_node = group.findLayers()[:2]
    top, below = top_node.layer(), below_node.layer()
    assert (top.type(), below.type()) == (QgsMapLayerType.VectorLayer,
                                          QgsMapLayerType.RasterLayer), vector_path.name
    assert top_node.itemVisibilityChecked() and not below_node.itemVisibilityChecked(), \
        "the opaque class raster would hide the imagery under the see-through tiles"
    raster_colours = {c.label: c.color.name() for c in below.renderer().classes()}
    tile_colours = {c.value(): c.symbol().color().name() for c in top.renderer().categories()}
    assert tile_colours and all(raster_colours[label] == colour
                                for label, colour in tile_colours.items()), tile_colours


def test_refinement_is_on_by_default_and_can_be_turned_off(tmp_path, ortho, tiny):
    common = dict(INPUT=ortho, LABELS="forest, river, parking lot, houses", MODEL=tiny,
                  TILE_SIZE=64, GSD=0.05, TOP_K=1)
    feedback = Recorder()
    refined = run("zeroshotlabel", feedback, OUTPUT=str(tmp_path / "r.gpkg"), **common)
    plain = run("zeroshotlabel", REFINE=False, OUTPUT=str(tmp_path / "p.gpkg"), **common)
    labels = [[f["label"] for f in vector(result["OUTPUT"]).getFeatures()]
              for result in (refined, plain)]
    changed = sum(a != b for a, b in zip(*labels))
    assert refined["REFINED_TILES"] == changed > 0 and plain["REFINED_TILES"] == 0
    assert any(f"{changed} changed" in text for text in feedback.texts), feedback.texts
    assert any(f"refinement changed {changed} of them" in text for text in feedback.infos)
    assert read_metadata(refined["OUTPUT"])["refinement"]["changed_tiles"] == changed
    assert read_metadata(plain["OUTPUT"])["parameters"]["refine"] is False


def test_a_slow_blas_is_warned_about_once_a_session(tmp_path, ortho, tiny, monkeypatch):
    from terralens.plugin.processing import base

    monkeypatch.setattr(base, "slow_blas_warning", lambda: "numpy runs on libgslcblas")
    monkeypatch.setitem(base._SESSION, "slow_blas_warned", False)
    first, second = Recorder(), Recorder()
    for feedback, name in ((first, "a.gpkg"), (second, "b.gpkg")):
        run("zeroshotlabel", feedback, INPUT=ortho, LABELS="trees, roofs", MODEL=tiny,
            TILE_SIZE=128, OUTPUT=str(tmp_path / name))
    assert first.warnings.count("numpy runs on libgslcblas") == 1
    assert "numpy runs on libgslcblas" not in second.warnings
    assert any("slow BLAS the first run" in text for text in second.infos)


def test_a_repeated_run_gets_a_number_to_tell_it_apart(tmp_path, ortho, tiny, clean_qgis_state):
    import processing
    from qgis.core import QgsProject

    for name in ("a.gpkg", "b.gpkg"):
        processing.runAndLoadResults("terralens:zeroshotlabel", {
            "INPUT": ortho, "LABELS": "trees, roofs", "MODEL": tiny, "TILE_SIZE": 128,
            "OUTPUT": str(tmp_path / name)})
    group = QgsProject.instance().layerTreeRoot().findGroup("TerraLens results")
    assert [node.layer().name() for node in group.findLayers()] == [
        "Labels: trees, roofs (ortho_drone_small) 2", "Labels: trees, roofs (ortho_drone_small)"]
    assert [node.layer().metadata().title() for node in group.findLayers()] == [
        "Labels: trees, roofs (ortho_drone_small) 2", "Labels: trees, roofs (ortho_drone_small)"]


def test_a_mask_probability_comes_unticked_and_a_search_heatmap_shown(tmp_path, spacenet, tiny,
                                                                      clean_qgis_state):
    """The probability a mask was cut from repeats the mask and hid the imagery; a similarity
    heat-map covers the tiles the ranked polygons leave out, so it stays shown."""
    import processing
    from qgis.core import QgsLayerTreeModel, QgsProject

    processing.runAndLoadResults("terralens:promptmask", {
        "INPUT": spacenet, "PROMPT": "roofs", "MODEL": tiny, "TILE_SIZE": 128, "THRESHOLD": 0.0,
        "OUTPUT": str(tmp_path / "mask.gpkg"), "PROBABILITY": str(tmp_path / "p.tif")})
    processing.runAndLoadResults("terralens:textsearch", {
        "INPUT": [spacenet], "QUERY": "roofs", "K": 3, "MODEL": tiny, "TILE_SIZE": 128,
        "CACHE_DIR": str(tmp_path / "cache"), "OUTPUT": str(tmp_path / "hits.gpkg"),
        "HEATMAP": str(tmp_path / "heat.tif")})
    group = QgsProject.instance().layerTreeRoot().findGroup("TerraLens results")
    shown = {node.layer().name().split(":")[0]: node.itemVisibilityChecked()
             for node in group.findLayers()}
    assert shown == {"Search": True, "Similarity": True, "Mask": True, "Probability": False}
    legend = QgsLayerTreeModel(QgsProject.instance().layerTreeRoot())
    headings = {node.layer().name().split(":")[0]: legend.layerLegendNodes(node)[0].data(0)
                for node in group.findLayers() if node.layer().type() == node.layer().RasterLayer}
    assert headings == {"Similarity": "Band 1: score of 'roofs'",
                        "Probability": "Band 1: probability of 'roofs'"}, "no '(Gray)' after it"
