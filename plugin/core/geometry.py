"""OGR/OSR helpers shared by readers and writers: spatial references and tile polygons."""

import math

from osgeo import ogr, osr


def spatial_reference(crs_wkt):
    """An OSR spatial reference with GIS (x=east, y=north) axis order, or None without a CRS."""
    if not crs_wkt:
        return None
    srs = osr.SpatialReference()
    if srs.ImportFromWkt(crs_wkt) != 0:
        raise ValueError(f"cannot read the CRS: {crs_wkt[:80]}...")
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def polygon_from_ring(corners):
    """An OGR polygon from a list of (x, y) corners (closed automatically)."""
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in list(corners) + [corners[0]]:
        ring.AddPoint_2D(float(x), float(y))
    polygon = ogr.Geometry(ogr.wkbPolygon)
    polygon.AddGeometry(ring)
    return polygon


def same_crs(first_wkt, second_wkt):
    """Whether two CRSs (WKT, either may be empty) are the same."""
    if not first_wkt or not second_wkt:
        return not first_wkt and not second_wkt
    return bool(spatial_reference(first_wkt).IsSame(spatial_reference(second_wkt)))


def transform_points(points, source_wkt, target_wkt):
    """(x, y) points from the CRS `source_wkt` into `target_wkt` (GIS axis order: x east).

    Raises:
        ValueError: one CRS is missing (a raster without a CRS cannot be placed in another's).
    """
    if same_crs(source_wkt, target_wkt):
        return [(float(x), float(y)) for x, y in points]
    if not source_wkt or not target_wkt:
        raise ValueError("a raster without a CRS cannot be placed among rasters that have one: "
                         "assign it a CRS (Layer Properties > Source) or search it alone")
    transform = osr.CoordinateTransformation(spatial_reference(source_wkt),
                                             spatial_reference(target_wkt))
    return [(x, y) for x, y, *_ in transform.TransformPoints([list(p) for p in points])]


def reproject_geometry(geometry, source_wkt, target_wkt):
    """A copy of an ogr.Geometry (or WKT) moved from the CRS `source_wkt` into `target_wkt`.

    Raises:
        ValueError: an unreadable geometry, one CRS missing, or a place the target CRS cannot
            hold (the transformation fails or gives infinite coordinates).
    """
    geometry = (ogr.CreateGeometryFromWkt(geometry) if isinstance(geometry, str)
                else geometry.Clone() if geometry is not None else None)
    if geometry is None:
        raise ValueError("a geometry is unreadable (not valid WKT)")
    if same_crs(source_wkt, target_wkt):
        return geometry
    if not source_wkt or not target_wkt:
        raise ValueError("a geometry without a CRS cannot be placed on a raster that has one "
                         "(or the other way round): give both a CRS")
    transform = osr.CoordinateTransformation(spatial_reference(source_wkt),
                                             spatial_reference(target_wkt))
    gdal_ok = geometry.Transform(transform) == 0
    if not gdal_ok or not all(math.isfinite(v) for v in geometry.GetEnvelope()):
        raise ValueError("a geometry lies where the raster's CRS cannot place it")
    return geometry
