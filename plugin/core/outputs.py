"""Write result layers with GDAL/OGR: polygon layers streamed feature by feature, GeoTIFFs.

Both appear only when complete: they are written under a temporary name and renamed at the
end, so a cancelled or failed run leaves nothing behind.
"""

import json
import os
import uuid
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr

from .geometry import polygon_from_ring, spatial_reference

# No gdal.UseExceptions() here: it is process-wide and would change GDAL for QGIS and every
# other plugin. Return values are checked instead.

VECTOR_DRIVERS = {".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".geojson": "GeoJSON",
                  ".json": "GeoJSON", ".fgb": "FlatGeobuf", ".sqlite": "SQLite"}
RASTER_SUFFIXES = (".tif", ".tiff")  # raster outputs are always GeoTIFFs
FIELD_TYPES = {"str": ogr.OFTString, "int": ogr.OFTInteger, "float": ogr.OFTReal}
METADATA_KEY = "TERRALENS"


class PolygonWriter:
    """Streams polygons with attributes into a new vector file.

    Use as a context manager: the file is renamed into place when the block ends normally and
    deleted when it raises (a cancel included).
    """

    def __init__(self, path, crs_wkt, fields, layer_name="terralens", metadata=None,
                 batch=1000):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in VECTOR_DRIVERS:
            raise ValueError(f"cannot write {self.path.name}: use one of "
                             f"{', '.join(sorted(VECTOR_DRIVERS))}")
        self.tmp = temporary_sibling(self.path)
        driver = ogr.GetDriverByName(VECTOR_DRIVERS[suffix])
        self.dataset = driver.CreateDataSource(str(self.tmp))
        if self.dataset is None:
            raise OSError(f"cannot create {self.path}: {gdal.GetLastErrorMsg()}")
        self.layer = self.dataset.CreateLayer(layer_name, spatial_reference(crs_wkt),
                                              ogr.wkbPolygon)
        if self.layer is None:
            raise OSError(f"cannot create a layer in {self.path}: {gdal.GetLastErrorMsg()}")
        for name, kind in fields:
            self.layer.CreateField(ogr.FieldDefn(name, FIELD_TYPES[kind]))
        # by number: OGR's lookup by name costs more than writing the value
        self.field_number = {name: number for number, (name, _) in enumerate(fields)}
        if metadata:
            self.layer.SetMetadataItem(METADATA_KEY, json.dumps(metadata, default=str))
        self.definition = self.layer.GetLayerDefn()
        self.batch, self.pending, self.count = batch, 0, 0
        self.layer.StartTransaction()

    def add(self, geometry, values):
        """Add one feature: `geometry` is an ogr.Geometry or a ring of (x, y) corners."""
        if not isinstance(geometry, ogr.Geometry):
            geometry = polygon_from_ring(geometry)
        feature = ogr.Feature(self.definition)
        feature.SetGeometry(geometry)
        for name, value in values.items():
            feature.SetField(self.field_number[name],
                             value.item() if isinstance(value, np.generic) else value)
        if self.layer.CreateFeature(feature) != 0:
            raise OSError(f"cannot write to {self.path}: {gdal.GetLastErrorMsg()}")
        self.count += 1
        self.pending += 1
        if self.pending >= self.batch:  # transactions in batches: fast GeoPackage inserts
            self.layer.CommitTransaction()
            self.layer.StartTransaction()
            self.pending = 0

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False

    def commit(self):
        """Close the file and move it (and any sidecar files) into place."""
        self.layer.CommitTransaction()
        self.layer = self.definition = None
        self.dataset = None  # closes and flushes
        move_into_place(self.tmp, self.path)
        return self.path

    def abort(self):
        """Close and delete the temporary file."""
        self.layer = self.definition = None
        self.dataset = None
        for tmp_file, _ in _sidecars(self.tmp, self.path):
            tmp_file.unlink()


def temporary_sibling(path):
    """A unique hidden temporary name beside `path`, with the same suffix (drivers need it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


def move_into_place(tmp, path):
    """Rename a finished temporary file and its sidecars (.dbf, .aux.xml ...) onto `path`."""
    for tmp_file, final in _sidecars(tmp, path):
        os.replace(tmp_file, final)


def _sidecars(tmp, path):
    """(temporary file, final name) for `tmp` and the files beside it sharing its stem."""
    stem = tmp.name[: -len(tmp.suffix)]
    pairs = []
    for candidate in tmp.parent.iterdir():
        if candidate.name.startswith(stem + "."):
            pairs.append((candidate, path.with_name(path.stem + candidate.name[len(stem):])))
    return pairs


def write_geotiff(path, array, geotransform, crs_wkt, nodata=None, metadata=None,
                  category_names=None, band_description=None):
    """Write a (rows, cols) or (bands, rows, cols) array as a tiled, compressed GeoTIFF.

    `category_names` (value 0, 1, ... in order) label a class raster's values in QGIS;
    `band_description` says what the values are (QGIS shows it in the legend and band lists:
    "Band 1: probability of 'water'").
    """
    if Path(path).suffix.lower() not in RASTER_SUFFIXES:
        raise ValueError(f"cannot write {Path(path).name}: raster outputs are GeoTIFF files, "
                         "name it .tif")
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    data_type = gdal.GDT_Float32 if array.dtype.kind == "f" else gdal.GDT_Int32
    data_type = {np.dtype(np.uint8): gdal.GDT_Byte,
                 np.dtype(np.uint16): gdal.GDT_UInt16}.get(array.dtype, data_type)
    bands, rows, cols = array.shape
    predictor = "PREDICTOR=3" if data_type == gdal.GDT_Float32 else "PREDICTOR=2"
    tmp = temporary_sibling(path)
    try:
        dataset = gdal.GetDriverByName("GTiff").Create(
            str(tmp), cols, rows, bands, data_type,
            options=["COMPRESS=DEFLATE", "TILED=YES", predictor])
        if dataset is None:
            raise OSError(f"cannot create {path}: {gdal.GetLastErrorMsg()}")
        dataset.SetGeoTransform(tuple(geotransform))
        if crs_wkt:
            dataset.SetProjection(crs_wkt)
        if metadata:
            dataset.SetMetadataItem(METADATA_KEY, json.dumps(metadata, default=str))
        for number in range(bands):
            band = dataset.GetRasterBand(number + 1)
            if nodata is not None:
                band.SetNoDataValue(nodata)
            band.WriteArray(array[number])
            if band_description:
                band.SetDescription(str(band_description))
            if category_names:  # kept in a .aux.xml sidecar, which QGIS reads
                band.SetCategoryNames(list(category_names))
        band = dataset = None  # close: flushes the file and writes the sidecar
        move_into_place(tmp, Path(path))
    finally:
        for tmp_file, _ in _sidecars(tmp, Path(path)):
            tmp_file.unlink()
    return Path(path)


def read_metadata(path):
    """The TerraLens provenance stored in an output file (vector layer or GeoTIFF), or {}."""
    dataset = gdal.OpenEx(str(path))
    if dataset is None:
        return {}
    holder = dataset.GetLayer(0) if dataset.GetLayerCount() else dataset
    value = holder.GetMetadataItem(METADATA_KEY)
    return json.loads(value) if value else {}
