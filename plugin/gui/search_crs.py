"""The CRS a search writes its results in, and the CRS of the places a user points at."""

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


def results_crs_wkt(sources):
    """The CRS to write a search's results in: the project's, so that they lie on the map; none
    when no searched raster has a CRS (QGIS draws such a raster in its own pixel coordinates,
    x = column and y = -row, and the results are written in those)."""
    return wkt_of(QgsProject.instance().crs()) if any_georeferenced(sources) else None


def picked_crs_wkt(canvas_crs, sources):
    """The CRS of a point picked on the map: the canvas's; none when no raster searched has a
    CRS (the canvas then shows them in their pixel coordinates, whatever its own CRS)."""
    return wkt_of(canvas_crs) if any_georeferenced(sources) else None
