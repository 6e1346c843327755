"""Small, deterministic bad inputs for the headless matrix: rasters, model bundles, mask layers."""

import json
import shutil
from pathlib import Path

import numpy as np
from gdal_files import make_tif
from osgeo import gdal, ogr, osr

WIDTH, HEIGHT = 128, 96  # 2 x 2 tiles of 64 px (the tiny bundle's default tile)
UTM_GT = (500000.0, 2.0, 0.0, 4100000.0, 0.0, -2.0)
CRS_CASES = {  # name: (EPSG code, geotransform)
    "epsg4326": (4326, (12.49, 2e-5, 0.0, 41.9, 0.0, -2e-5)),
    "polar": (3413, (-200000.0, 10.0, 0.0, -2000000.0, 0.0, -10.0)),
    "feet": (2263, (980000.0, 5.0, 0.0, 200000.0, 0.0, -5.0)),
    "rotated": (32633, (500000.0, 1.8, 0.6, 4100000.0, 0.6, -1.8)),
}
GDAL_TYPES = {"Byte": gdal.GDT_Byte, "UInt16": gdal.GDT_UInt16, "Int16": gdal.GDT_Int16,
              "Float32": gdal.GDT_Float32, "Float64": gdal.GDT_Float64,
              "CInt16": gdal.GDT_CInt16, "CFloat32": gdal.GDT_CFloat32}


def pattern(bands, height=HEIGHT, width=WIDTH):
    """(bands, height, width) float64 in [0, 1]: smooth waves, different in every band."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([(np.sin(x / (5.0 + b)) * np.cos(y / (4.0 + 2 * b)) + 1.0) / 2.0
                     for b in range(bands)])


def as_type(values, type_name):
    """Scale [0, 1] values into the typical range of a GDAL data type."""
    if type_name == "Byte":
        return np.round(values * 255)
    if type_name == "UInt16":
        return np.round(values * 10000)
    if type_name == "Int16":
        return np.round(values * 4000 - 1000)
    if type_name.startswith("C"):  # a SAR-like amplitude with a varying phase
        return values * 1000 * np.exp(1j * np.linspace(0, 6.28, values.size).reshape(values.shape))
    return values


def write_raster(path, data, type_name="UInt16", epsg=32633, geotransform=UTM_GT, nodata=None):
    """A GeoTIFF from a (bands, rows, cols) array; epsg None: no CRS, geotransform None: none."""
    return make_tif(path, data, GDAL_TYPES[type_name], nodata, epsg, geotransform)


def make_rasters(folder):
    """{case name: raster path} for every raster case of the matrix."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rasters = {}

    def add(name, data, **kwargs):
        rasters[name] = write_raster(folder / f"{name}.tif", data, **kwargs)

    for bands in (1, 2, 4, 5, 13):
        add(f"bands{bands}", as_type(pattern(bands), "UInt16"))
    for type_name in GDAL_TYPES:
        add(f"type_{type_name}", as_type(pattern(3), type_name), type_name=type_name)
    add("constant", np.full((3, HEIGHT, WIDTH), 100.0), type_name="Byte")
    add("all_nodata", np.zeros((3, HEIGHT, WIDTH)), nodata=0)
    nan_left = pattern(3)
    nan_left[:, :, :WIDTH // 2] = np.nan
    add("nan_untagged", nan_left, type_name="Float32")
    for name, (epsg, geotransform) in CRS_CASES.items():
        add(name, as_type(pattern(3), "UInt16"), epsg=epsg, geotransform=geotransform)
    add("no_crs", as_type(pattern(3), "Byte"), type_name="Byte", epsg=None, geotransform=None)
    add("size_1x1", np.full((3, 1, 1), 120.0), type_name="Byte")
    add("size_3x5000", as_type(pattern(3, 5000, 3), "Byte"), type_name="Byte")
    rasters["vrt_40000"] = huge_vrt(folder)
    return rasters


def huge_vrt(folder, side=40000, detail_at=(20000, 19904)):
    """A 40000 x 40000 px VRT (2 m pixels) made by stretching one small GeoTIFF over it, with
    the same GeoTIFF at its own pixels at column, row `detail_at` (where the vrt_40000 case's
    extent lies: stretched 300 times, the rest shows one value a tile and is skipped)."""
    small = write_raster(Path(folder) / "vrt_source.tif", as_type(pattern(3), "UInt16"))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    bands = "".join(f"""
  <VRTRasterBand dataType="UInt16" band="{b}">
    <SimpleSource>
      <SourceFilename relativeToVRT="0">{small}</SourceFilename><SourceBand>{b}</SourceBand>
      <SrcRect xOff="0" yOff="0" xSize="{WIDTH}" ySize="{HEIGHT}"/>
      <DstRect xOff="0" yOff="0" xSize="{side}" ySize="{side}"/>
    </SimpleSource>
    <SimpleSource>
      <SourceFilename relativeToVRT="0">{small}</SourceFilename><SourceBand>{b}</SourceBand>
      <SrcRect xOff="0" yOff="0" xSize="{WIDTH}" ySize="{HEIGHT}"/>
      <DstRect xOff="{detail_at[0]}" yOff="{detail_at[1]}" xSize="{WIDTH}" ySize="{HEIGHT}"/>
    </SimpleSource>
  </VRTRasterBand>""" for b in (1, 2, 3))
    text = (f'<VRTDataset rasterXSize="{side}" rasterYSize="{side}">\n'
            f"  <SRS>{srs.ExportToWkt().replace('&', '&amp;').replace('<', '&lt;')}</SRS>\n"
            f"  <GeoTransform>{', '.join(str(v) for v in UTM_GT)}</GeoTransform>{bands}\n"
            "</VRTDataset>\n")
    path = Path(folder) / "vrt_40000.vrt"
    path.write_text(text, encoding="utf-8")
    return str(path)


def raster_bounds(path):
    """(minx, miny, maxx, maxy) of a raster as QGIS places it (no geotransform: y = -row)."""
    ds = gdal.Open(str(path))
    gt = ds.GetGeoTransform(can_return_null=True) or (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    corners = [(gt[0] + c * gt[1] + r * gt[2], gt[3] + c * gt[4] + r * gt[5])
               for c in (0, ds.RasterXSize) for r in (0, ds.RasterYSize)]
    xs, ys = zip(*corners)
    return min(xs), min(ys), max(xs), max(ys)


def make_bundles(folder, tiny):
    """{name: folder} of broken model bundles: empty, truncated ONNX, a future schema version."""
    folder = Path(folder)
    bundles = {"empty": folder / "empty"}
    bundles["empty"].mkdir(parents=True, exist_ok=True)
    truncated = shutil.copytree(tiny, folder / "truncated")
    image = Path(truncated) / "image.onnx"
    image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
    bundles["truncated"] = Path(truncated)
    future = Path(shutil.copytree(tiny, folder / "future"))
    manifest = json.loads((future / "bundle.json").read_text(encoding="utf-8"))
    manifest["schema_version"] = 99
    (future / "bundle.json").write_text(json.dumps(manifest), encoding="utf-8")
    bundles["future"] = future
    return {name: str(path) for name, path in bundles.items()}


def write_polygons(path, epsg, rings, driver="GPKG"):
    """A polygon layer in EPSG `epsg` with one feature per ring of (x, y)."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ds = ogr.GetDriverByName(driver).CreateDataSource(str(path))
    layer = ds.CreateLayer("mask", srs, ogr.wkbPolygon)
    for ring in rings:
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(ogr.CreateGeometryFromWkt(
            "POLYGON((" + ", ".join(f"{x} {y}" for x, y in ring + ring[:1]) + "))"))
        layer.CreateFeature(feature)
    ds = None
    return str(path)


def make_masks(folder):
    """An empty mask layer and one in EPSG:4326 over the top-left tile of the UTM rasters."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    utm = osr.SpatialReference()
    utm.ImportFromEPSG(32633)
    wgs84 = osr.SpatialReference()
    wgs84.ImportFromEPSG(4326)
    for srs in (utm, wgs84):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_wgs84 = osr.CoordinateTransformation(utm, wgs84)
    x0, y0 = UTM_GT[0], UTM_GT[3]
    square = [(x0 + 20, y0 - 20), (x0 + 60, y0 - 20), (x0 + 60, y0 - 60), (x0 + 20, y0 - 60)]
    lonlat = [to_wgs84.TransformPoint(x, y)[:2] for x, y in square]
    return {"empty": write_polygons(folder / "empty.gpkg", 32633, []),
            "wgs84": write_polygons(folder / "wgs84.gpkg", 4326, [lonlat])}
