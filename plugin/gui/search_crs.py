"""The CRS a search's results are written in, and that of a place a user points at."""

from qgis.core import QgsCoordinateReferenceSystem, QgsMapLayerType, QgsProject


def wkt_of(crs):
    """A QgsCoordinateReferenceSystem as WKT, or None when it is not valid."""
    return crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL) if crs.isValid() else None


def any_georeferenced(sources):
    """Whether a raster of the project with one of these sources has a CRS (True when none of
    them is in the project any more: the project's CRS is then the best guess)."""
    sources = set(sources)
    layers = [layer for layer in QgsProject.instance().mapLayers().values()
              if layer.type() == QgsMapLayerType.RasterLayer and layer.source() in sources]
    return not layers or any(layer.crs().isValid() for layer in layers)


def crs_wkt_for(crs, sources):
    """`crs` (the project's for results, the canvas's for a picked point) as WKT; none when no
    searched raster has a CRS: QGIS draws such a raster in its own pixel coordinates (x =
    column, y = -row) whatever the project's CRS, and results and picks are in those."""
    return wkt_of(crs) if any_georeferenced(sources) else None
