"""Example layers as users draw them: GeoPackages of points or polygons in any CRS."""

from osgeo import ogr, osr

from terralens.plugin.core.geometry import reproject_geometry


def write_examples(path, geometries, source_wkt, epsg, fields=None):
    """A GeoPackage layer of `geometries` (WKT in the CRS `source_wkt`, None: already in EPSG
    `epsg`) written in EPSG `epsg`, with optional string `fields` ({name: [value a geometry]})."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    dataset = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    kind = ogr.CreateGeometryFromWkt(geometries[0]).GetGeometryType()
    layer = dataset.CreateLayer("examples", srs, kind)
    for name in fields or {}:
        layer.CreateField(ogr.FieldDefn(name, ogr.OFTString))
    for number, wkt in enumerate(geometries):
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(reproject_geometry(wkt, source_wkt or srs.ExportToWkt(),
                                               srs.ExportToWkt()))
        for name, values in (fields or {}).items():
            feature.SetField(name, values[number])
        layer.CreateFeature(feature)
    dataset = None
    return str(path)


def tile_centre(index, tile):
    """WKT point at the centre of a tile of a TileIndex, in its CRS."""
    xs, ys = zip(*index.footprint(tile))
    return f"POINT ({sum(xs) / 4} {sum(ys) / 4})"


def tile_square(index, tile, shrink=0.1):
    """WKT polygon covering most of a tile (`shrink` of its side left free at each edge)."""
    xs, ys = zip(*index.footprint(tile))
    left, right, bottom, top = min(xs), max(xs), min(ys), max(ys)
    dx, dy = shrink * (right - left), shrink * (top - bottom)
    left, right, bottom, top = left + dx, right - dx, bottom + dy, top - dy
    return (f"POLYGON (({left} {bottom}, {right} {bottom}, {right} {top}, {left} {top}, "
            f"{left} {bottom}))")
