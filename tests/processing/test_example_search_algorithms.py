"""Search by example and What changed through processing.run, on real rasters with example
layers written as GeoPackages in other CRSs than the rasters'."""


import numpy as np
import pytest
from example_layers import tile_centre, tile_square, write_examples
from processing_steps import Recorder, rows, run
from qgis.core import QgsProcessingException, QgsVectorLayer

from terralens.plugin.core import pipeline
from terralens.plugin.core.outputs import read_metadata
from terralens.plugin.core.tiled_raster import TileSettings

pytestmark = pytest.mark.usefixtures("provider")


@pytest.fixture
def atlanta(spacenet, tiny, tmp_path):
    """The SpaceNet scene's index (64 tiles of 128 px, UTM 16N) in the test's cache."""
    index, _, _ = pipeline.index_raster(spacenet, pipeline_model(tiny),
                                        TileSettings(tile_size=128), tmp_path / "cache")
    return index


def pipeline_model(tiny):
    from terralens.plugin.core.registry import cached_model

    return cached_model(tiny)


def test_points_in_lon_lat_find_tiles_like_theirs(tmp_path, spacenet, tiny, atlanta):
    examples = write_examples(tmp_path / "points.gpkg",
                              [tile_centre(atlanta, 9), tile_centre(atlanta, 44),
                               "POINT (500000 3000000)"],  # far from Atlanta: left out
                              atlanta.crs_wkt, 4326)
    feedback = Recorder()
    result = run("searchbyexample", feedback, INPUT=[spacenet], EXAMPLES=examples,
                 WORDS="roofs", NEGATIVE="trees", K=10, MODEL=tiny, TILE_SIZE=128,
                 CACHE_DIR=str(tmp_path / "cache"), OUTPUT=str(tmp_path / "like.gpkg"),
                 HEATMAP=str(tmp_path / "heat.tif"))
    layer, features = rows(result["OUTPUT"])
    assert layer.crs().authid() == "EPSG:32616" and len(features) == 10
    assert [f["rank"] for f in features] == list(range(1, 11))
    assert features[0]["query"] == "like 2 examples + roofs - trees"
    centres = {tuple(np.round(f.geometry().centroid().asPoint(), 3)) for f in features}
    examples_at = {tuple(np.round([sum(c) / 4 for c in zip(*atlanta.footprint(t))], 3))
                   for t in (9, 44)}
    assert not centres & examples_at, "the example tiles are not among the results"
    assert any("2 of 3 examples used (2 tiles)" in text for text in feedback.infos)
    assert feedback.warnings == ["1 of 3 examples lie on no tile of the rasters (outside them, "
                                 "on nodata or tiles of one value, or in a CRS that cannot be "
                                 "placed there) and were "
                                 "not used"]
    record = read_metadata(result["OUTPUT"])
    assert record["examples"] == 2 and record["words"] == ["roofs"]
    assert read_metadata(result["HEATMAP"])["query"] == "like 2 examples + roofs - trees"


def test_polygons_in_web_mercator_on_one_raster_search_another(tmp_path, spacenet, ortho, tiny,
                                                               atlanta):
    examples = write_examples(tmp_path / "polygons.gpkg",
                              [tile_square(atlanta, 3), tile_square(atlanta, 42)],
                              atlanta.crs_wkt, 3857)
    result = run("searchbyexample", INPUT=[ortho], EXAMPLES=examples, EXAMPLE_RASTERS=[spacenet],
                 K=5, MODEL=tiny, TILE_SIZE=128, CACHE_DIR=str(tmp_path / "cache"),
                 OUTPUT=str(tmp_path / "like.gpkg"))
    layer, features = rows(result["OUTPUT"])
    assert layer.crs().authid() == "EPSG:32633", "the searched raster's CRS"
    assert {f["raster"] for f in features} == {ortho}
    mean = sum(atlanta.embeddings[t].astype(np.float32) /
               np.linalg.norm(atlanta.embeddings[t].astype(np.float32)) for t in (3, 42))
    drone, _, _ = pipeline.index_raster(ortho, pipeline_model(tiny),
                                        TileSettings(tile_size=128), tmp_path / "cache")
    scores = drone.embeddings.astype(np.float32) @ (mean / np.linalg.norm(mean))
    assert [f["score"] for f in features] == pytest.approx(sorted(scores)[::-1][:5], abs=1e-3)


def test_search_by_example_refuses_bad_examples(tmp_path, spacenet, tiny, atlanta):
    outside = write_examples(tmp_path / "far.gpkg", ["POINT (2.35 48.85)"], None, 4326)
    common = {"INPUT": [spacenet], "MODEL": tiny, "TILE_SIZE": 128,
              "CACHE_DIR": str(tmp_path / "cache"), "OUTPUT": str(tmp_path / "x.gpkg")}
    with pytest.raises(QgsProcessingException, match="none of the 1 example"):
        run("searchbyexample", EXAMPLES=outside, **common)
    lines = write_examples(tmp_path / "lines.gpkg", ["LINESTRING (0 0, 1 1)"], None, 4326)
    with pytest.raises(QgsProcessingException):
        run("searchbyexample", EXAMPLES=lines, **common)
    empty = QgsVectorLayer("Point?crs=EPSG:4326", "empty", "memory")
    with pytest.raises(QgsProcessingException, match="no geometry"):
        run("searchbyexample", EXAMPLES=empty, **common)
    assert not (tmp_path / "x.gpkg").exists()
