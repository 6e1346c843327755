"""What labelling jobs write: label fields, values, and the class raster (8 or 16 bit)."""

import math

from osgeo import gdal

from terralens.plugin.core import pipeline
from terralens.plugin.core.pipeline import label_output
from terralens.plugin.core.tiled_raster import TileSettings


def test_fields_and_values_follow_the_ranks():
    assert label_output.label_fields(1) == [("label", "str"), ("score", "float")]
    assert [name for name, _ in label_output.label_fields(3)] == [
        "label", "score", "label_2", "score_2", "label_3", "score_3"]
    assert label_output.label_values([("forest", 0.7), ("river", 0.2)]) == {
        "label": "forest", "score": 0.7, "label_2": "river", "score_2": 0.2}


def test_many_labels_shrink_the_probability_grids():
    few = label_output.probability_mosaic(40000, 40000, (0, 1, 0, 0, 0, -1), 128, 3)
    many = label_output.probability_mosaic(40000, 40000, (0, 1, 0, 0, 0, -1), 128, 2000)
    assert 512 < max(few.rows, few.cols) <= 1024  # whole cells of the raster, at most 1024
    assert max(many.rows, many.cols) <= math.sqrt(label_output.CLASS_RASTER_CELLS / 2000)
    assert many.sums.nbytes <= label_output.CLASS_RASTER_CELLS * 4


def test_more_than_255_labels_make_a_16_bit_class_raster(tmp_path, spacenet, wordpiece_model):
    labels = [f"class {n}" for n in range(300)]
    classes = tmp_path / "classes.tif"
    pipeline.label_raster(spacenet, wordpiece_model, labels, tmp_path / "l.gpkg",
                          TileSettings(tile_size=128), class_raster_path=classes)
    dataset = gdal.Open(str(classes))
    band = dataset.GetRasterBand(1)
    values = band.ReadAsArray()
    assert gdal.GetDataTypeName(band.DataType) == "UInt16"
    assert values.max() > 0 and values.max() <= 300
    assert max(dataset.RasterXSize, dataset.RasterYSize) <= math.sqrt(
        label_output.CLASS_RASTER_CELLS / 300)  # all 300 grids together stay small
