"""The location prior: lon/lat of tiles, the location encoder, and its effect on labels/search."""

import numpy as np
import pytest
from osgeo import osr
from test_raster import make_tif

from terralens.plugin.core import location, pipeline
from terralens.plugin.core.encoders import load_model
from terralens.plugin.core.labels import label_embeddings
from terralens.plugin.core.outputs import read_metadata
from terralens.plugin.core.pipeline import text_search
from terralens.plugin.core.tiled_raster import TileSettings, open_tiled
from terralens.plugin.core.tiling import Window, window_footprint

LABELS = ["forest", "river", "harbour", "desert"]


@pytest.fixture(scope="module")
def sensors(repo_root):
    return load_model(repo_root / "tests" / "data" / "tiny-sensors")


@pytest.fixture()
def raster(tmp_path):
    rng = np.random.default_rng(3)
    arrays = [rng.integers(0, 255, size=(96, 96)) for _ in range(3)]
    # 20 km pixels so that the tiles span a few degrees and the prior differs between them
    return make_tif(tmp_path / "rgb.tif", arrays, epsg=32633,
                    geotransform=(300000.0, 20000.0, 0.0, 5500000.0, 0.0, -20000.0))


def utm33_wkt():
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    return srs.ExportToWkt()


def test_utm_points_become_lon_lat():
    lonlat = location.to_lonlat([[500000.0, 0.0], [500000.0, 5000000.0]], utm33_wkt())
    np.testing.assert_allclose(lonlat[0], [15.0, 0.0], atol=1e-6)
    assert lonlat[1][0] == pytest.approx(15.0, abs=1e-6) and 45 < lonlat[1][1] < 45.2


def test_window_centres_are_footprint_centres_also_when_rotated():
    geotransform = (1000.0, 2.0, 0.5, 5000.0, 0.3, -2.0)
    windows = [Window(0, 0, 10, 10), Window(30, 20, 8, 4)]
    expected = [np.mean(window_footprint(w, geotransform), axis=0) for w in windows]
    np.testing.assert_allclose(location.window_centres(windows, geotransform), expected)
    array = np.array([tuple(w) for w in windows], np.int32)
    np.testing.assert_allclose(location.window_centres(array, geotransform), expected)


def test_no_crs_is_a_clear_error():
    with pytest.raises(location.LocationError, match="georeferenced"):
        location.to_lonlat([[0.0, 0.0]], "")


def test_location_embeddings_are_unit_and_place_dependent(sensors):
    places = sensors.location.encode([[-84.4, 33.7], [2.3, 48.9], [-84.4, 33.7]])
    np.testing.assert_allclose(np.linalg.norm(places, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(places[0], places[2], atol=1e-6)
    assert float(places[0] @ places[1]) < 0.999
    with pytest.raises(location.LocationError, match="lon/lat"):
        sensors.location.encode([[0.0, 95.0]])


def test_grid_shortcut_matches_direct_scores_for_few_tiles(sensors):
    vectors = label_embeddings(sensors.text, LABELS, ["{}"])
    xy = np.array([[300000.0 + 40000 * i, 5400000.0 - 30000 * i] for i in range(9)])
    direct = location.prior_similarities(
        sensors.location.encode(location.to_lonlat(xy, utm33_wkt())), vectors)
    np.testing.assert_allclose(location.prior_scores(sensors, xy, utm33_wkt(), vectors),
                               direct, atol=1e-6)
    coarse = location.prior_scores(sensors, xy, utm33_wkt(), vectors, cells=2)
    assert coarse.shape == direct.shape and len(np.unique(coarse[:, 0])) <= 4


def test_a_strong_prior_decides_the_labels(sensors, raster, tmp_path):
    settings = TileSettings(tile_size=32, gsd_m=0)
    out = tmp_path / "prior.gpkg"
    summary = pipeline.label_raster(raster, sensors, LABELS, out, settings, templates="{}",
                                    top_k=1, location_weight=1000.0)
    vectors = label_embeddings(sensors.text, LABELS, ["{}"])
    tiled = open_tiled(raster, sensors, settings)
    centres = location.window_centres(tiled.windows, tiled.source.geotransform)
    expected = np.asarray(LABELS)[location.prior_scores(sensors, centres, tiled.source.crs_wkt,
                                                        vectors).argmax(axis=1)]
    counts = {label: int((expected == label).sum()) for label in set(expected)}
    assert summary["label_counts"] == counts
    assert read_metadata(out)["parameters"]["location_weight"] == 1000.0


def test_prior_changes_scores_and_search_ranking(sensors, raster, tmp_path):
    settings = TileSettings(tile_size=32, gsd_m=0)
    index, _, _ = pipeline.index_raster(raster, sensors, settings, cache_dir=tmp_path)
    plain = pipeline.search([index], sensors, "harbour", k=9)
    strong = pipeline.search([index], sensors, "harbour", k=9, location_weight=1000.0)
    query = sensors.text.encode(["harbour"])[0]
    centres = location.window_centres(index.windows, index.geotransform)
    prior = location.prior_scores(sensors, centres, index.crs_wkt, query[None])[:, 0]
    assert [hit["tile"] for hit in strong] == list(np.argsort(-prior)[:9])
    assert [hit["tile"] for hit in plain] != [hit["tile"] for hit in strong]


def test_model_without_location_encoder_says_so(tiny, raster, tmp_path):
    model = load_model(tiny)
    with pytest.raises(location.LocationError, match="no location encoder"):
        pipeline.label_raster(raster, model, LABELS, tmp_path / "x.gpkg",
                              TileSettings(tile_size=32), location_weight=1.0)
    assert not (tmp_path / "x.gpkg").exists()


def test_large_index_reranks_its_best_candidates_with_the_prior(sensors, raster, tmp_path,
                                                                monkeypatch):
    index, _, _ = pipeline.index_raster(raster, sensors, TileSettings(tile_size=32, gsd_m=0),
                                        cache_dir=tmp_path)
    monkeypatch.setattr(text_search, "EXACT_SEARCH_LIMIT", 4)  # 9 tiles count as "large"
    monkeypatch.setattr(text_search, "PRIOR_CANDIDATES", 3)
    monkeypatch.setattr(text_search, "PRIOR_CANDIDATES_PER_HIT", 2)
    hits = pipeline.search([index], sensors, "harbour", k=2, location_weight=1000.0)
    query = sensors.text.encode(["harbour"])[0]
    candidates, _ = index.search(query, 4)  # max(3, 2 x 2): 4 of the 9 tiles
    centres = location.window_centres(index.windows[candidates], index.geotransform)
    prior = location.prior_scores(sensors, centres, index.crs_wkt, query[None])[:, 0]
    assert [hit["tile"] for hit in hits] == [int(candidates[i]) for i in np.argsort(-prior)[:2]]
