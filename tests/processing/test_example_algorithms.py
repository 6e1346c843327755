"""Label tiles from examples through processing.run: GeoPackage example layers in other CRSs
than the raster, text and integer class fields, the cache, and bad input."""

import pytest
from example_layers import tile_centre, tile_square, write_examples
from osgeo import ogr, osr
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsVectorLayer

from terralens.plugin.core import pipeline, registry
from terralens.plugin.core.geometry import reproject_geometry
from terralens.plugin.core.outputs import read_metadata
from terralens.plugin.core.tiled_raster import TileSettings

pytestmark = pytest.mark.usefixtures("provider")


class Log(QgsProcessingFeedback):
    """Keeps what an algorithm tells the user, as (kind, text)."""

    def __init__(self):
        super().__init__()
        self.lines = []

    def pushInfo(self, text):  # noqa: N802 (QGIS API)
        self.lines.append(("info", text))

    def pushWarning(self, text):  # noqa: N802
        self.lines.append(("warning", text))

    def texts(self, kind):
        return [text for what, text in self.lines if what == kind]


def run(feedback=None, **parameters):
    import processing

    return processing.run("terralens:labelfromexamples", parameters, feedback=feedback)


@pytest.fixture
def atlanta(spacenet, tiny, tmp_path):
    """The SpaceNet scene's index (64 tiles of 128 px, UTM 16N) in the test's cache."""
    index, _, _ = pipeline.index_raster(spacenet, registry.cached_model(tiny),
                                        TileSettings(tile_size=128), tmp_path / "cache")
    return index


def common(tmp_path, tiny, spacenet):
    return dict(INPUT=[spacenet], MODEL=tiny, TILE_SIZE=128, CACHE_DIR=str(tmp_path / "cache"))


def test_points_and_polygons_in_other_crss_label_every_tile(tmp_path, spacenet, tiny, atlanta):
    points = write_examples(tmp_path / "points.gpkg",
                            [tile_centre(atlanta, t) for t in (0, 1, 9, 10)]
                            + ["POINT (500000 3000000)"],  # far from Atlanta: left out
                            atlanta.crs_wkt, 4326,
                            {"kind": ["roofs", "roofs", "trees", "trees", "trees"]})
    polygons = write_examples(tmp_path / "polygons.gpkg",
                              [tile_square(atlanta, t) for t in (20, 28, 40)],
                              atlanta.crs_wkt, 3857, {"kind": ["roofs", "trees", "road"]})
    model = registry.cached_model(tiny)
    calls = model.image.calls
    log = Log()
    result = run(log, EXAMPLES=points, CLASS_FIELD="kind", LABELS="road",
                 OUTPUT=str(tmp_path / "labels.gpkg"), CLASS_RASTER=str(tmp_path / "c.tif"),
                 **common(tmp_path, tiny, spacenet))
    assert model.image.calls == calls, "the cached index was reused: nothing encoded"
    layer = QgsVectorLayer(result["OUTPUT"], "labels", "ogr")
    assert layer.isValid() and layer.crs().authid() == "EPSG:32616"
    assert layer.featureCount() == len(atlanta) == 64
    assert {f["label"] for f in layer.getFeatures()} <= {"roofs", "trees", "road"}
    assert "raster" not in layer.fields().names()
    record = read_metadata(result["OUTPUT"])
    assert record["parameters"]["labels"] == ["roofs", "trees", "road"]
    assert record["examples"]["used"] == 4 and record["examples"]["outside"] == 1
    assert record["validation"]["per_class"]["roofs"]["examples"] == 2
    assert result["ACCURACY"] == record["validation"]["accuracy"]
    assert log.texts("warning") == [
        "1 of 5 examples lie on no tile of the rasters and were not used: feature 5 (trees)"]
    infos = " ".join(log.texts("info"))
    assert "4 of 5 examples used (4 tiles)" in infos and "leave-one-out" in infos
    assert "road: 0 examples, not measured" in infos
    again = run(EXAMPLES=polygons, CLASS_FIELD="kind", OUTPUT=str(tmp_path / "p.gpkg"),
                **common(tmp_path, tiny, spacenet))
    assert read_metadata(again["OUTPUT"])["examples"]["tiles"] == 3
    assert again["ACCURACY"] == -1.0  # one example a class: none can be left out


def test_integer_class_field_with_words(tmp_path, spacenet, tiny, atlanta):
    path = tmp_path / "codes.gpkg"
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    dataset = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = dataset.CreateLayer("codes", srs, ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("code", ogr.OFTInteger))
    for tile, code in zip((0, 1, 50, 51), (7, 7, 12, 12)):
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(reproject_geometry(tile_centre(atlanta, tile), atlanta.crs_wkt,
                                               srs.ExportToWkt()))
        feature.SetField("code", code)
        layer.CreateFeature(feature)
    dataset = layer = None
    result = run(EXAMPLES=str(path), CLASS_FIELD="code", LABELS="7=buildings, 12=trees",
                 OUTPUT=str(tmp_path / "labels.gpkg"), **common(tmp_path, tiny, spacenet))
    record = read_metadata(result["OUTPUT"])
    assert record["parameters"]["labels"] == ["7", "12"]
    assert record["parameters"]["text_labels"] == {"7": "buildings", "12": "trees"}


def test_examples_on_one_raster_label_another(tmp_path, spacenet, ortho, tiny, atlanta):
    examples = write_examples(tmp_path / "points.gpkg",
                              [tile_centre(atlanta, t) for t in (0, 1, 9, 10)],
                              atlanta.crs_wkt, 4326, {"kind": ["a", "a", "b", "b"]})
    result = run(INPUT=[ortho], EXAMPLE_RASTERS=[spacenet], EXAMPLES=examples,
                 CLASS_FIELD="kind", MODEL=tiny, TILE_SIZE=128,
                 CACHE_DIR=str(tmp_path / "cache"), OUTPUT=str(tmp_path / "ortho.gpkg"))
    layer = QgsVectorLayer(result["OUTPUT"], "labels", "ogr")
    assert layer.crs().authid() == "EPSG:32633" and layer.featureCount() == 70
    assert read_metadata(result["OUTPUT"])["examples"]["used"] == 4


@pytest.mark.parametrize("field, classes, message", [
    ("nope", ["a", "b"], "no field 'nope': choose the class field among fid, kind"),
    ("kind", ["a", "a"], "at least two classes .only 'a' has examples"),
])
def test_bad_examples_fail_with_the_reason(tmp_path, spacenet, tiny, atlanta, field, classes,
                                           message):
    examples = write_examples(tmp_path / "points.gpkg",
                              [tile_centre(atlanta, t) for t in (0, 9)], atlanta.crs_wkt,
                              4326, {"kind": classes})
    with pytest.raises(QgsProcessingException, match=message):
        run(EXAMPLES=examples, CLASS_FIELD=field, OUTPUT=str(tmp_path / "out" / "x.gpkg"),
            **common(tmp_path, tiny, spacenet))
    assert not (tmp_path / "out").exists()


def test_examples_outside_every_raster_fail(tmp_path, spacenet, tiny, atlanta):
    examples = write_examples(tmp_path / "far.gpkg", ["POINT (10 50)", "POINT (11 50)"], None,
                              4326, {"kind": ["a", "b"]})
    with pytest.raises(QgsProcessingException, match="none of the 2 examples lies on a tile"):
        run(EXAMPLES=examples, CLASS_FIELD="kind", OUTPUT=str(tmp_path / "x.gpkg"),
            **common(tmp_path, tiny, spacenet))
    assert not (tmp_path / "x.gpkg").exists()


def test_refinement_is_on_by_default_and_can_be_turned_off(tmp_path, spacenet, tiny, atlanta):
    examples = write_examples(tmp_path / "points.gpkg",
                              [tile_centre(atlanta, t) for t in (0, 1, 9, 10)],
                              atlanta.crs_wkt, 4326, {"kind": ["a", "a", "b", "b"]})
    common_parameters = dict(EXAMPLES=examples, CLASS_FIELD="kind",
                             **common(tmp_path, tiny, spacenet))
    refined = run(OUTPUT=str(tmp_path / "r.gpkg"), **common_parameters)
    record = read_metadata(refined["OUTPUT"])
    assert record["parameters"]["refine"]["method"] == "transclip-gmm-knn"
    assert record["refinement"][0]["ran"]
    assert refined["REFINED_TILES"] == record["refinement"][0]["changed_tiles"]
    plain = run(OUTPUT=str(tmp_path / "p.gpkg"), REFINE=False, **common_parameters)
    record = read_metadata(plain["OUTPUT"])
    assert record["parameters"]["refine"] is False and record["refinement"] == []
    assert plain["REFINED_TILES"] == 0


def test_the_log_says_when_scores_were_scaled_to_fit_the_examples():
    from terralens.plugin.processing.example_algorithms import log_summary

    summary = {"examples": {"used": 40, "given": 40, "tiles": 40}, "classes": ["a", "b"],
               "classifier": {"method": "logistic regression", "text_weight": 18.5,
                              "score_temperature": 0.42},
               "validation": {"method": "10-fold cross-validation", "accuracy": 95.0,
                              "validated": 40, "per_class": {}},
               "refinement": [], "refinement_skipped": "logistic regression", "tiles": 9,
               "label_counts": {"a": 5, "b": 4}}
    log = Log()
    log_summary(log, summary)
    assert log.texts("info")[0].endswith(
        "classifier: logistic regression, text weight 18.5, scores scaled by 1/0.42 to fit the "
        "examples")
    summary["classifier"]["score_temperature"] = 1.0
    log = Log()
    log_summary(log, summary)
    assert log.texts("info")[0].endswith("text weight 18.5")
