"""OGR/OSR helpers shared by readers and writers: spatial references and tile polygons."""

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
