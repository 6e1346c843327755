"""Small GDAL helpers the tests share: write a GeoTIFF, read a result layer, a raster's bounds."""

import numpy as np
from osgeo import gdal, ogr, osr


def make_tif(path, arrays, dtype=gdal.GDT_UInt16, nodata=None, epsg=32633,
             geotransform=(400000.0, 2.0, 0.0, 5000000.0, 0.0, -2.0), interps=None):
    """Write a GeoTIFF with one band per array in `arrays` (a list, or a bands-first array);
    `epsg` None: no CRS, `geotransform` None: no georeferencing."""
    arrays = [np.asarray(a) for a in arrays]
    height, width = arrays[0].shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), width, height, len(arrays), dtype)
    if geotransform is not None:
        ds.SetGeoTransform(geotransform)
    if epsg is not None:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
        ds.SetProjection(srs.ExportToWkt())
    for number, array in enumerate(arrays, start=1):
        band = ds.GetRasterBand(number)
        band.WriteArray(array)
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if interps:
            band.SetColorInterpretation(interps[number - 1])
    ds = None
    return str(path)


def features(path):
    """(dataset, first layer, list of its features) of a vector file; keep the dataset alive."""
    dataset = ogr.Open(str(path))
    layer = dataset.GetLayer(0)
    return dataset, layer, list(layer)


def raster_bounds(path):
    """(minx, miny, maxx, maxy) of a north-up raster."""
    ds = gdal.Open(str(path))
    g = ds.GetGeoTransform()
    return g[0], g[3] + g[5] * ds.RasterYSize, g[0] + g[1] * ds.RasterXSize, g[3]


def ramp_bands(tmp_path, count, name="r.tif", size=32, descriptions=None):
    """A `count`-band UInt16 GeoTIFF of seeded random values, with optional band descriptions."""
    rng = np.random.default_rng(count)
    arrays = [rng.integers(100, 4000, size=(size, size)) for _ in range(count)]
    path = make_tif(tmp_path / name, arrays)
    if descriptions:
        ds = gdal.Open(str(path), gdal.GA_Update)
        for number, text in enumerate(descriptions, start=1):
            ds.GetRasterBand(number).SetDescription(text)
        ds = None
    return path


def wide_utm_raster(path):
    """96 x 96 px RGB Byte in UTM 33N with 20 km pixels: its tiles span a few degrees, so a
    location prior differs between them."""
    rng = np.random.default_rng(3)
    arrays = [rng.integers(0, 255, size=(96, 96)) for _ in range(3)]
    return make_tif(path, arrays, epsg=32633,
                    geotransform=(300000.0, 20000.0, 0.0, 5500000.0, 0.0, -20000.0))


def ramp(height, width, start=1000, step=1):
    """A (height, width) float64 ramp of distinct values, row by row."""
    return (start + step * np.arange(height * width).reshape(height, width)).astype(np.float64)
