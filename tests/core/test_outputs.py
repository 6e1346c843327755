"""Output writers: polygons streamed atomically with provenance, GeoTIFFs, cancel leaves nothing."""

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from terralens.plugin.core import outputs


def wkt(epsg):
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return srs.ExportToWkt()


@pytest.mark.parametrize("suffix", [".gpkg", ".shp", ".geojson"])
def test_polygon_writer_writes_fields_crs_and_metadata(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    fields = [("label", "str"), ("score", "float"), ("rank", "int")]
    with outputs.PolygonWriter(path, wkt(32633), fields, metadata={"model_id": "tiny"}) as writer:
        writer.add([(0, 0), (10, 0), (10, -10), (0, -10)], {"label": "forest", "score": 0.5,
                                                             "rank": np.int64(1)})
    dataset = ogr.Open(str(path))
    layer = dataset.GetLayer(0)
    assert layer.GetFeatureCount() == 1
    feature = layer.GetNextFeature()
    assert feature["label"] == "forest" and feature["rank"] == 1
    assert feature.GetGeometryRef().GetArea() == pytest.approx(100)
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "32633"
    if suffix == ".gpkg":
        assert outputs.read_metadata(path) == {"model_id": "tiny"}
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_polygon_writer_leaves_nothing_when_interrupted(tmp_path):
    path = tmp_path / "out.gpkg"
    with pytest.raises(KeyboardInterrupt):
        with outputs.PolygonWriter(path, wkt(4326), [("a", "int")]) as writer:
            writer.add([(0, 0), (1, 0), (1, 1)], {"a": 1})
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="use one of"):
        outputs.PolygonWriter(tmp_path / "x.xyz", "", [])


def test_write_geotiff_round_trip(tmp_path):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    array[0, 0] = np.nan
    gt = (1.0, 2.0, 0.0, 3.0, 0.0, -2.0)
    path = outputs.write_geotiff(tmp_path / "h.tif", array, gt, wkt(32616), nodata=float("nan"),
                           metadata={"query": "ships"})
    dataset = gdal.Open(str(path))
    assert dataset.GetGeoTransform() == gt
    np.testing.assert_array_equal(dataset.ReadAsArray()[1:], array[1:])
    assert outputs.read_metadata(path) == {"query": "ships"}


def test_write_geotiff_refuses_other_formats_and_keeps_16_bit_classes(tmp_path):
    gt = (1.0, 2.0, 0.0, 3.0, 0.0, -2.0)
    with pytest.raises(ValueError, match="GeoTIFF"):
        outputs.write_geotiff(tmp_path / "classes.img", np.zeros((2, 2), np.uint8), gt, "")
    assert not list(tmp_path.iterdir())
    classes = np.array([[0, 300], [2000, 1]], np.uint16)
    path = outputs.write_geotiff(tmp_path / "classes.tif", classes, gt, "")
    dataset = gdal.Open(str(path))
    band = dataset.GetRasterBand(1)
    assert gdal.GetDataTypeName(band.DataType) == "UInt16"
    np.testing.assert_array_equal(band.ReadAsArray(), classes)
