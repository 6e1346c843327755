"""Spatial references, tile polygons and moving points between CRSs."""

import pytest
from osgeo import osr

from terralens.plugin.core.geometry import (
    polygon_from_ring,
    same_crs,
    spatial_reference,
    transform_points,
)


def wkt(epsg):
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return srs.ExportToWkt()


def test_spatial_reference_uses_x_east_even_for_lat_lon_crs():
    srs = spatial_reference(wkt(4326))
    assert srs.GetAxisMappingStrategy() == osr.OAMS_TRADITIONAL_GIS_ORDER
    assert spatial_reference("") is None
    with pytest.raises(ValueError, match="cannot read the CRS"):
        spatial_reference("not a crs")


def test_polygon_from_ring_closes_the_ring():
    polygon = polygon_from_ring([(0, 0), (2, 0), (2, 1), (0, 1)])
    assert polygon.GetArea() == 2.0
    ring = polygon.GetGeometryRef(0)
    assert ring.GetPointCount() == 5 and ring.GetPoint_2D(0) == ring.GetPoint_2D(4)


def test_transform_points_between_utm_zones_and_to_degrees():
    atlanta_16n = [(741000.0, 3740000.0)]
    [(x17, y17)] = transform_points(atlanta_16n, wkt(32616), wkt(32617))
    assert 150000 < x17 < 250000 and abs(y17 - 3740000) < 20000
    [(back_x, back_y)] = transform_points([(x17, y17)], wkt(32617), wkt(32616))
    assert back_x == pytest.approx(741000.0, abs=0.01) and back_y == pytest.approx(3740000.0)
    [(lon, lat)] = transform_points(atlanta_16n, wkt(32616), wkt(4326))
    assert -84.5 < lon < -84.3 and 33.7 < lat < 33.9


def test_same_crs_and_missing_crs():
    assert same_crs(wkt(32616), wkt(32616)) and not same_crs(wkt(32616), wkt(32617))
    assert same_crs("", "") and not same_crs("", wkt(4326))
    assert transform_points([(1, 2)], "", "") == [(1.0, 2.0)]
    with pytest.raises(ValueError, match="without a CRS"):
        transform_points([(1, 2)], "", wkt(4326))
