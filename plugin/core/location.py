"""The location prior: tile centres to lon/lat, a bundle's location encoder, and prior scores.

A location encoder (FLAVARS / SatCLIP style) maps (lon, lat) to an embedding in the image-text
space, trained so that it is close to the embeddings of images taken there. Its similarity to a
label's or query's text embedding says how likely that text is *at that place*; jobs add it,
weighted, to the image's own similarity when the user asks for the prior.
"""

import numpy as np

from .bundle import check_location_io
from .onnx_session import l2_normalise, open_session, session_io


class LocationError(ValueError):
    """The location prior cannot be used here; the message says why and what to do."""


class LocationEncoder:
    """Runs location.onnx on (lon, lat) pairs in degrees."""

    def __init__(self, bundle, session, max_batch=4096):
        self.bundle = bundle
        self.spec = bundle.location
        self.session = session
        self.max_batch = max(1, int(max_batch))

    def encode(self, lonlat):
        """Embed places: float (N, 2) lon/lat in degrees -> float32 (N, D), unit length."""
        lonlat = np.asarray(lonlat, np.float32).reshape(-1, 2)
        if not len(lonlat):
            return np.zeros((0, self.bundle.embedding_dim), np.float32)
        if not np.all(np.isfinite(lonlat)) or np.any(np.abs(lonlat[:, 1]) > 90.0):
            raise LocationError("location prior: tile coordinates are not valid lon/lat")
        chunks = [self.session.run([self.spec.embedding_output],
                                   {self.spec.input_name: lonlat[i:i + self.max_batch]})[0]
                  for i in range(0, len(lonlat), self.max_batch)]
        return l2_normalise(np.concatenate(chunks).astype(np.float32), axis=1)


def load_location_encoder(bundle, providers=None, threads=None):
    """The bundle's location encoder, or None when it has none."""
    if bundle.location is None:
        return None
    session = open_session(bundle.path(bundle.location.file), providers, threads)
    check_location_io(bundle, session_io(session))
    return LocationEncoder(bundle, session)


def require_location(model):
    """The model's location encoder, or a LocationError saying that this model has none."""
    if model.location is None:
        raise LocationError(f"model {model.bundle.id!r} has no location encoder, so it cannot "
                            "use a location prior: set the prior weight to 0 or choose a "
                            "bundle that has one")
    return model.location


def to_lonlat(points, crs_wkt):
    """Lon/lat in degrees of (N, 2) x/y points in the CRS `crs_wkt`."""
    # imported here: `load_model` (which imports this module) also runs where there is no GDAL,
    # in the training venv
    from osgeo import osr

    if not crs_wkt:
        raise LocationError("the location prior needs a georeferenced raster: this one has no "
                            "CRS (assign one in QGIS, or set the prior weight to 0)")
    source = osr.SpatialReference()
    if source.ImportFromWkt(crs_wkt) != 0:
        raise LocationError("the raster's CRS cannot be read, so tile locations are unknown")
    target = osr.SpatialReference()
    target.ImportFromEPSG(4326)
    for srs in (source, target):  # x = lon, y = lat whatever the CRS's axis order says
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    transform = osr.CoordinateTransformation(source, target)
    points = np.asarray(points, np.float64).reshape(-1, 2)
    if not len(points):
        return np.zeros((0, 2), np.float32)
    lonlat = np.asarray(transform.TransformPoints(points.tolist()), np.float64)[:, :2]
    return lonlat.astype(np.float32)


def window_centres(windows, geotransform):
    """(N, 2) x/y of the centres of pixel windows, in the raster's CRS.

    `windows` are `tiling.Window`s or an (N, 4) array of col, row, width, height (a tile
    index's), computed at once: a search over a million tiles must not loop in Python.
    """
    array = np.asarray(windows, np.float64).reshape(-1, 4)  # a Window is a named tuple
    col = array[:, 0] + array[:, 2] / 2.0
    row = array[:, 1] + array[:, 3] / 2.0
    x0, dx, rx, y0, ry, dy = geotransform
    return np.stack([x0 + col * dx + row * rx, y0 + col * ry + row * dy], axis=1)


def prior_similarities(location_embeddings, text_vectors):
    """Cosine of each place with each text: (N, D) x (L, D) -> (N, L)."""
    return location_embeddings @ np.asarray(text_vectors, np.float32).T


def prior_scores(model, centres_xy, crs_wkt, text_vectors, cells=64):
    """Cosine of each tile's place with each text, (N, L), from tile centres in the raster CRS.

    Places closer than a 1/`cells` of the tiles' extent share one location embedding: the
    encoder's finest scale is tens of kilometres, so this loses nothing and keeps a search over
    a million tiles to at most `cells`**2 encoder runs.
    """
    encoder = require_location(model)
    xy = np.asarray(centres_xy, np.float64).reshape(-1, 2)
    if len(xy) > cells * cells:
        low, high = xy.min(axis=0), xy.max(axis=0)
        step = np.maximum((high - low) / cells, 1e-9)
        cell = np.minimum(((xy - low) / step).astype(np.int64), cells - 1)
        keys, inverse = np.unique(cell[:, 0] * cells + cell[:, 1], return_inverse=True)
        points = low + (np.stack([keys // cells, keys % cells], axis=1) + 0.5) * step
    else:
        points, inverse = xy, np.arange(len(xy))
    places = encoder.encode(to_lonlat(points, crs_wkt))
    return prior_similarities(places, text_vectors)[inverse.reshape(-1)]
