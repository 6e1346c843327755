"""Prompt masks: dense prompt probabilities, the Smooth-Attention-Operation, polygons.

The Smooth-Attention-Operation (SAO) of the RS-WebLI paper smooths a coarse relevance map by
attention pooling over a sliding window: each location takes a weighted mean of its
neighbours' values, weighted by a softmax of the similarity of their features to its own. It
fills gaps inside objects and keeps edges where the features change.
"""

import numpy as np
from osgeo import gdal, ogr, osr

from .geometry import spatial_reference

DEFAULT_BACKGROUND = ("background", "bare ground", "trees", "grass", "road", "water")


def background_prompts(prompt, background=None):
    """Background prompts the prompt competes with, minus any that equal the prompt itself."""
    prompts = list(background if background is not None else DEFAULT_BACKGROUND)
    return [p for p in prompts if p.strip().lower() != prompt.strip().lower()]


def prompt_probability(dense, prompt_vector, background_vectors, logit_scale):
    """Per location, softmax probability of the prompt against background prompts.

    Args:
        dense: (tiles, dim, rows, cols) unit feature vectors.
        prompt_vector: (dim,) unit text embedding of the prompt.
        background_vectors: (k, dim) unit text embeddings of background prompts (k may be 0,
            in which case the probability is a sigmoid of the scaled similarity).
        logit_scale: the model's temperature.

    Returns:
        (tiles, rows, cols) float32 in [0, 1].
    """
    vectors = np.vstack([prompt_vector[None], background_vectors]).astype(np.float32)
    logits = float(logit_scale) * np.einsum("bdhw,kd->bkhw", dense, vectors)
    if len(vectors) == 1:
        return (1.0 / (1.0 + np.exp(-logits[:, 0]))).astype(np.float32)
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return (exp[:, 0] / exp.sum(axis=1)).astype(np.float32)


def smooth_attention(values, features, window=3, temperature=0.1):
    """The Smooth-Attention-Operation over a `window` x `window` neighbourhood.

    Args:
        values: (rows, cols) map to smooth.
        features: (dim, rows, cols) unit feature vectors at the same locations.
        window: odd neighbourhood size.
        temperature: softmax temperature on feature cosine similarity (lower: sharper edges).
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"the smoothing window must be an odd number >= 1, got {window}")
    half = window // 2
    rows, cols = values.shape
    padded_f = np.pad(features, ((0, 0), (half, half), (half, half)))
    padded_v = np.pad(values, half)
    inside = np.pad(np.ones_like(values, bool), half)
    logits, shifted = [], []
    for dy in range(window):
        for dx in range(window):
            neighbour = padded_f[:, dy:dy + rows, dx:dx + cols]
            logit = (features * neighbour).sum(axis=0) / temperature
            logits.append(np.where(inside[dy:dy + rows, dx:dx + cols], logit, -np.inf))
            shifted.append(padded_v[dy:dy + rows, dx:dx + cols])
    logits = np.stack(logits)
    weights = np.exp(logits - logits.max(axis=0))
    weights /= weights.sum(axis=0)
    return (weights * np.stack(shifted)).sum(axis=0).astype(np.float32)


def polygonize(probability, geotransform, crs_wkt, threshold=0.5, min_area=0.0, simplify=0.0,
               clip_to=None, min_pixels=0):
    """Regions where `probability` >= `threshold` as polygons (holes kept) in the map's CRS.

    Args:
        probability: (rows, cols) array, NaN where nothing was computed.
        geotransform: GDAL geotransform of the array.
        crs_wkt: CRS of the geotransform.
        threshold: probability above which a cell belongs to the mask.
        min_area: drop polygons smaller than this, in square metres (square map units for a
            CRS without metres; geographic CRSs are measured on an equal-area projection).
        simplify: Douglas-Peucker tolerance in map units (0 keeps every vertex).
        clip_to: an ogr polygon (the raster's outline): parts of the map's cells past it are
            cut off (a coarse map's last cells run past the raster's edge).
        min_pixels: regions (of the mask, and holes in it) of fewer map pixels are merged into
            their surroundings first (GDAL's sieve, 8-connected); 0 or 1: none.

    Returns:
        list of (ogr.Geometry, mean probability inside, area in m²).
    """
    # NaN (no tile painted there) is never in the mask, whatever the threshold
    mask = np.isfinite(probability) & (np.nan_to_num(probability, nan=0.0) >= threshold)
    if not mask.any():
        return []
    source = _mem_raster(mask.astype(np.uint8), geotransform, crs_wkt)
    if min_pixels > 1:
        _sieve(source.GetRasterBand(1), np.isfinite(probability), int(min_pixels))
        if not source.GetRasterBand(1).ReadAsArray().any():
            return []
    layer_ds = ogr.GetDriverByName("Memory").CreateDataSource("polygons")
    layer = layer_ds.CreateLayer("mask", spatial_reference(crs_wkt), ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("value", ogr.OFTInteger))
    band = source.GetRasterBand(1)
    if gdal.Polygonize(band, band, layer, 0, ["8CONNECTED=8"]) != 0:
        raise RuntimeError(f"GDAL could not polygonize the mask: {gdal.GetLastErrorMsg()}")
    means = _zonal_means(layer, probability, geotransform, crs_wkt)
    measure = _area_measure(crs_wkt)
    results = []
    for feature in layer:
        mean = means.get(feature.GetFID(), float("nan"))
        for geometry in _clipped(feature.GetGeometryRef().Clone(), clip_to):
            area = measure(geometry)
            if area < min_area:
                continue
            if simplify > 0:
                geometry = geometry.SimplifyPreserveTopology(simplify)
            results.append((geometry, mean, area))
    return results


def _clipped(geometry, outline):
    """The polygon's parts inside `outline` (None: the polygon as it is)."""
    if outline is None or outline.Contains(geometry):
        return [geometry]
    inside = geometry.Intersection(outline)
    if inside is None or inside.IsEmpty():
        return []
    parts = [inside.GetGeometryRef(i).Clone() for i in range(inside.GetGeometryCount())] \
        if inside.GetGeometryType() in (ogr.wkbMultiPolygon, ogr.wkbGeometryCollection) \
        else [inside]
    return [part for part in parts if part.GetGeometryType() == ogr.wkbPolygon
            and part.GetArea() > 0]


def _sieve(band, valid, min_pixels):
    """Merge regions smaller than `min_pixels` into their neighbours, in place; pixels without
    data (`valid` False) take no part."""
    valid_raster = _mem_raster(valid.astype(np.uint8), (0, 1, 0, 0, 0, 1), "")
    if gdal.SieveFilter(band, valid_raster.GetRasterBand(1), band, min_pixels, 8) != 0:
        raise RuntimeError(f"GDAL could not sieve the mask: {gdal.GetLastErrorMsg()}")


def _mem_raster(array, geotransform, crs_wkt, data_type=gdal.GDT_Byte):
    rows, cols = array.shape
    dataset = gdal.GetDriverByName("MEM").Create("", cols, rows, 1, data_type)
    dataset.SetGeoTransform(tuple(geotransform))
    if crs_wkt:
        dataset.SetProjection(crs_wkt)
    dataset.GetRasterBand(1).WriteArray(array)
    return dataset


def _zonal_means(layer, probability, geotransform, crs_wkt):
    """Mean probability inside each polygon: burn feature ids, then one bincount."""
    ids = _mem_raster(np.full(probability.shape, -1, np.int32), geotransform, crs_wkt,
                      gdal.GDT_Int32)
    for feature in layer:
        feature.SetField("value", feature.GetFID())
        layer.SetFeature(feature)
    gdal.RasterizeLayer(ids, [1], layer, options=["ATTRIBUTE=value"])
    burned = ids.GetRasterBand(1).ReadAsArray().ravel()
    values = np.nan_to_num(probability, nan=0.0).ravel()
    inside = burned >= 0
    sums = np.bincount(burned[inside], weights=values[inside])
    counts = np.bincount(burned[inside])
    return {fid: float(sums[fid] / counts[fid]) for fid in np.nonzero(counts)[0]}


def _area_measure(crs_wkt):
    """A function giving a polygon's area in m² (map units² when the CRS has no metres)."""
    srs = spatial_reference(crs_wkt)
    if srs is None or not srs.IsGeographic():
        factor = srs.GetLinearUnits() ** 2 if srs is not None else 1.0
        return lambda geometry: geometry.GetArea() * factor
    equal_area = osr.SpatialReference()
    equal_area.ImportFromProj4("+proj=cea +datum=WGS84 +units=m")
    equal_area.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    transform = osr.CoordinateTransformation(srs, equal_area)

    def area(geometry):
        projected = geometry.Clone()
        projected.Transform(transform)
        return projected.GetArea()

    return area
