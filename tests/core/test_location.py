"""The location prior: lon/lat of tiles, the location encoder, and its effect on labels/search."""

import numpy as np
import pytest
from osgeo import osr

from terralens.plugin.core import location
from terralens.plugin.core.labels import label_embeddings
from terralens.plugin.core.tiling import Window, window_footprint

PLACE_LABELS = ["forest", "river", "harbour", "desert"]


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
    vectors = label_embeddings(sensors.text, PLACE_LABELS, ["{}"])
    xy = np.array([[300000.0 + 40000 * i, 5400000.0 - 30000 * i] for i in range(9)])
    direct = location.prior_similarities(
        sensors.location.encode(location.to_lonlat(xy, utm33_wkt())), vectors)
    np.testing.assert_allclose(location.prior_scores(sensors, xy, utm33_wkt(), vectors),
                               direct, atol=1e-6)
    coarse = location.prior_scores(sensors, xy, utm33_wkt(), vectors, cells=2)
    assert coarse.shape == direct.shape and len(np.unique(coarse[:, 0])) <= 4
