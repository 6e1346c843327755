"""How the bad-input matrix judges a run: a correct output, or one clear message and no file."""

import math
from pathlib import Path

import numpy as np
import pytest
from matrix_cases import LONG_TEXT, OUTPUT
from matrix_inputs import raster_bounds
from matrix_report import error_message
from osgeo import gdal, ogr

from terralens.plugin.core.index import TileIndex
from terralens.plugin.core.outputs import read_metadata

FIELDS = {"zeroshotlabel": {"label", "score"}, "textsearch": {"rank", "score", "query"},
          "promptmask": {"prompt", "mean_score", "area"}}
SPECIAL_LABELS = ["forest, dense", "water 🌊", 'car\'s "roof"']
EMPTY_WARNING = "no tile has enough valid pixels"
FLAT_WARNING = "shows one value in every band: there is no detail to recognise"


def judge(case, run, inputs):
    """The outcome of a case in words; AssertionError when it is not what the case expects."""
    assert "Traceback" not in run.output, "a Python traceback was printed"
    stray = [name for name in files_in(run.out_dir) if ".tmp" in name]
    assert not stray, f"temporary files left: {stray}"
    if case.expect != OUTPUT:
        return judge_message(case, run)
    assert run.returncode == 0, f"failed: {error_message(run.output) or run.output[-300:]}"
    raster = inputs["raster"][case.raster]
    outcome = CHECKS[case.algorithm](case, run, raster)
    if case.check:
        EXTRA[case.check](case, run, raster)
    return outcome


def judge_message(case, run):
    message = error_message(run.output)
    assert run.returncode != 0, "the run succeeded"
    assert message, "no error message"
    assert case.expect in message, f"unexpected message: {message}"
    # a cached index is not an output: a run may fill the cache and still fail later
    written = {name for name in files_in(run.out_dir) - run.before
               if not name.startswith("cache/")}
    assert not written, f"a failed run left files: {sorted(written)}"
    return f"message: {message.replace(str(run.out_dir), '<out>')}"


def files_in(folder):
    return {str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file()}


def open_layer(path):
    dataset = ogr.Open(str(path))
    assert dataset is not None, f"OGR cannot open {path}"
    assert dataset.GetLayerCount() == 1, f"{dataset.GetLayerCount()} layers in {path}"
    return dataset, dataset.GetLayer(0)


def crs_name(srs):
    if srs is None:
        return "no CRS"
    code = srs.GetAuthorityCode(None)
    return f"EPSG:{code}" if code else srs.GetName()


def same_crs(layer_srs, raster):
    raster_srs = gdal.Open(str(raster)).GetSpatialRef()
    if layer_srs is not None and layer_srs.GetName().startswith("Undefined"):
        layer_srs = None  # how a GeoPackage says "no CRS" (srs_id 0)
    if raster_srs is None or layer_srs is None:
        assert raster_srs is None and layer_srs is None, (
            f"output CRS {crs_name(layer_srs)}, raster {crs_name(raster_srs)}")
    else:
        assert layer_srs.IsSame(raster_srs), f"output CRS {crs_name(layer_srs)} is not the raster's"
    return crs_name(layer_srs)


def inside(extent, raster, slack_px=0.0):
    """The layer extent (minx, maxx, miny, maxy) lies within the raster's, `slack_px` pixels."""
    minx, miny, maxx, maxy = raster_bounds(raster)
    gt = gdal.Open(str(raster)).GetGeoTransform()
    slack = slack_px * math.hypot(gt[1], gt[4]) + 1e-6 * (maxx - minx + maxy - miny)
    assert (extent[0] >= minx - slack and extent[1] <= maxx + slack
            and extent[2] >= miny - slack and extent[3] <= maxy + slack), (
        f"features extend past the raster: {extent} vs {(minx, maxx, miny, maxy)}")


def check_vector(case, run, raster, key, count, slack_px=0.0):
    """The vector output `key`: opens, has the fields, `count` features, the raster's CRS."""
    path = run.results.get(key)
    assert path and Path(path).is_file(), f"no {key} file: {path}"
    dataset, layer = open_layer(path)
    names = {field.GetName() for field in layer.schema}
    missing = FIELDS[case.algorithm] - names
    assert not missing, f"fields {sorted(missing)} missing"
    features = layer.GetFeatureCount()
    if count is None:
        assert features > 0, "no feature"
    else:
        assert features == count, f"{features} features, expected {count}"
    crs = same_crs(layer.GetSpatialRef(), raster)
    if features:
        inside(layer.GetExtent(), raster, slack_px)
    if path.endswith(".gpkg"):  # the formats without layer metadata carry no record
        assert read_metadata(path).get("model_id"), "no TerraLens metadata"
    return f"{Path(path).suffix} layer, {features} features, {crs}"


def check_labels(case, run, raster):
    return check_vector(case, run, raster, "OUTPUT", case.tiles)


def check_search(case, run, raster):
    count = None if case.tiles is None else min(5, case.tiles)
    return check_vector(case, run, raster, "OUTPUT", count)


def check_mask(case, run, raster):
    # mask cells may run past the raster's edge by less than a tile
    outcome = check_vector(case, run, raster, "OUTPUT", 0 if case.tiles == 0 else None,
                           slack_px=64)
    if case.tiles == 0:  # (the dense method tiles the raster its own way: no count to check)
        assert "from 0 tiles" in run.output, "tiles were encoded"
    return outcome


def check_index(case, run, raster):
    tiles = int(run.results.get("TILES", -1))
    assert tiles == case.tiles if case.tiles is not None else tiles > 0, f"{tiles} tiles"
    (path,) = index_files(run)
    assert len(TileIndex.load(path)) == tiles
    return f"index of {tiles} tiles"


def index_files(run):
    return sorted((run.out_dir / "cache").glob("*.tlindex.npz"))


def provenance(case, run):
    """The record the output carries (for a search: that of the index it searched)."""
    if case.algorithm in ("buildindex", "textsearch"):
        return TileIndex.load(index_files(run)[0]).provenance
    return read_metadata(run.results["OUTPUT"])


def check_amplitude(case, run, raster):
    """The stretch was measured on |z| (not on the real part GDAL reads by default)."""
    scaling = provenance(case, run)["scaling"]
    dataset = gdal.Open(str(raster))
    amplitude = np.abs(dataset.GetRasterBand(1).ReadAsArray())
    low, high = np.percentile(amplitude, scaling["percentiles"])
    assert (scaling["low"][0], scaling["high"][0]) == pytest.approx((low, high), rel=1e-3), (
        f"not the amplitude: {scaling}")


def check_encoder_s2(case, run, raster):
    assert provenance(case, run)["image_encoder"] == "s2"


def check_warns_empty(case, run, raster):
    assert EMPTY_WARNING in run.output, "no warning about the empty result"


def check_warns_flat(case, run, raster):
    assert FLAT_WARNING in run.output, "no warning about a raster of one value"


def output_layer(run, key="OUTPUT"):
    """(dataset, its first layer): the dataset must outlive the layer (GDAL's Python rule)."""
    dataset = ogr.Open(run.results[key])
    return dataset, dataset.GetLayer(0)


def check_no_crs(case, run, raster):
    if case.algorithm != "buildindex":
        _, layer = output_layer(run)
        srs = layer.GetSpatialRef()
        assert srs is None or srs.GetName() == "Undefined geographic SRS", srs.GetName()


def check_rotated(case, run, raster):
    if case.algorithm == "buildindex":
        return
    _, layer = output_layer(run)
    feature = layer.GetNextFeature()  # held: the geometry belongs to it
    ring = feature.GetGeometryRef().GetGeometryRef(0)
    (x0, y0), (x1, y1) = ring.GetPoint_2D(0), ring.GetPoint_2D(1)
    assert abs(x1 - x0) > 1e-6 and abs(y1 - y0) > 1e-6, "footprint is axis-aligned"


def check_fast(case, run, raster):
    assert run.seconds < 60, f"took {run.seconds:.0f} s"


def check_one_label(case, run, raster):
    assert "one label" in run.output, "no warning about a single label"
    _, layer = output_layer(run)
    assert {round(feature["score"], 6) for feature in layer} == {1.0}


def check_class_raster(case, run, raster):
    dataset = gdal.Open(run.results["CLASS_RASTER"])
    dataset.GetFileList()  # loads the .aux.xml sidecar, where the category names are
    band = dataset.GetRasterBand(1)
    assert gdal.GetDataTypeName(band.DataType) == "UInt16", "class raster is not UInt16"
    assert len(band.GetCategoryNames()) == 2001, "not every class is named"
    values = band.ReadAsArray()
    assert 0 < values.max() <= 2000


def check_special_labels(case, run, raster):
    labels = read_metadata(run.results["OUTPUT"])["parameters"]["labels"]
    assert labels == SPECIAL_LABELS, f"labels read as {labels}"


def check_long_text(case, run, raster):
    _, layer = output_layer(run)
    field = "prompt" if case.algorithm == "promptmask" else "query"
    assert layer.GetNextFeature()[field] == LONG_TEXT, "the text was cut"


def check_raster_output(case, run, raster):
    key = "HEATMAP" if case.algorithm == "textsearch" else "PROBABILITY"
    dataset = gdal.Open(run.results[key])
    assert dataset is not None and dataset.GetDriver().ShortName == "GTiff"
    same_crs(dataset.GetSpatialRef(), raster)


CHECKS = {"zeroshotlabel": check_labels, "buildindex": check_index, "textsearch": check_search,
          "promptmask": check_mask}
EXTRA = {"amplitude": check_amplitude, "encoder_s2": check_encoder_s2,
         "warns_empty": check_warns_empty, "warns_flat": check_warns_flat,
         "pixel_coordinates": check_no_crs,
         "rotated": check_rotated, "fast": check_fast, "one_label": check_one_label,
         "class_raster": check_class_raster, "special_labels": check_special_labels,
         "long_text": check_long_text, "raster_output": check_raster_output}
