"""What changed (pipeline.detect_changes) on real pairs: the demo mosaic and its later copy, a
Sentinel-2 patch with a part replaced by another, and the bad inputs."""

import csv

import numpy as np
import pytest
from gdal_files import features
from osgeo import gdal

from terralens.plugin.core import registry
from terralens.plugin.core.outputs import read_metadata
from terralens.plugin.core.pipeline.change import detect_changes, same_nodata
from terralens.plugin.core.run_control import Cancelled, RunControl
from terralens.plugin.core.tiled_raster import TileSettings

UCM_LABELS = ("agricultural field, airplane, baseball diamond, beach, buildings, chaparral, "
              "dense residential area, forest, freeway, golf course, harbor, intersection, "
              "medium residential area, mobile home park, overpass, parking lot, river, runway, "
              "sparse residential area, storage tanks, tennis court")


@pytest.fixture(scope="module")
def default_model(repo_root):
    """The default model (the tiny ones see no land cover); 128 px tiles at 0.6 m."""
    return registry.cached_model(str(repo_root / "models" / "terralens-effnet-minilm-v1"))


@pytest.fixture(scope="module")
def demo_pair(repo_root):
    """demo/data/ucm_mosaic.tif (UTM 16N, 0.3 m) and its later copy (EPSG:4326, ~0.4 m) with 5
    of 25 real UC Merced scenes replaced by others (demo/make_change_pair.py)."""
    data = repo_root / "demo" / "data"
    with open(data / "ucm_mosaic_after_truth.csv", encoding="utf-8") as handle:
        truth = {(int(r["row"]), int(r["col"])): r["changed"] == "1"
                 for r in csv.DictReader(handle)}
    return str(data / "ucm_mosaic.tif"), str(data / "ucm_mosaic_after.tif"), truth


def cell_of(feature, before):
    gt = gdal.Open(before).GetGeoTransform()
    minx, maxx, miny, maxy = feature.GetGeometryRef().GetEnvelope()
    size = 256 * gt[1]
    return int(((miny + maxy) / 2 - gt[3]) // -size), int(((minx + maxx) / 2 - gt[0]) // size)


def test_the_replaced_scenes_of_the_demo_pair_are_found(demo_pair, default_model, tmp_path):
    before, after, truth = demo_pair
    out, heat = tmp_path / "changes.gpkg", tmp_path / "heat.tif"
    summary = detect_changes(before, after, default_model, out, heat, labels=UCM_LABELS,
                             cache_dir=tmp_path / "cache")
    assert summary["tiles_compared"] == 25 and summary["warped"]
    _, layer, rows = features(out)
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "32616"  # the first raster's CRS
    found = {cell_of(row, before): bool(row["changed"]) for row in rows}
    assert all(found[cell] for cell, changed in truth.items() if changed), "all 5 found"
    assert sum(found[cell] for cell, changed in truth.items() if not changed) <= 1, \
        "at most one false alarm among the 20 unchanged scenes"
    scores = {cell_of(row, before): row["change"] for row in rows}
    assert min(s for c, s in scores.items() if truth[c]) > 3 * max(
        s for c, s in scores.items() if not truth[c])
    for row in rows:
        moved = row["changed"] and row["label_before"] != row["label_after"]
        expected = f"{row['label_before']} -> {row['label_after']}" if moved \
            else row["label_before"]
        assert row["transition"] == expected
    assert any(" -> " in row["transition"] for row in rows)
    assert {row["label_before"] for row in rows} <= set(UCM_LABELS.split(", "))
    heat_ds = gdal.Open(str(heat))
    values = heat_ds.ReadAsArray()
    assert np.nanmax(values) == pytest.approx(max(scores.values()), abs=0.05)
    assert heat_ds.GetRasterBand(1).GetDescription() == "change score (1 - cosine)"
    record = read_metadata(out)
    assert record["after_raster"]["path"] == str(after), "the user's raster, not the warped one"
    assert record["after_raster"]["resampled_onto_before_grid"].endswith(".vrt")
    assert record["parameters"]["threshold"] == 0.0 and record["parameters"]["labels"]

    calls = default_model.image.calls
    again = detect_changes(before, after, default_model, tmp_path / "again.gpkg",
                           cache_dir=tmp_path / "cache")
    assert again["reused"] == [True, True] and default_model.image.calls == calls, \
        "a second run on the same pair encodes nothing"
    assert again["threshold"] == pytest.approx(summary["threshold"])


def test_a_given_threshold_and_extent_are_used(demo_pair, default_model, tmp_path):
    before, after, _ = demo_pair
    gt = gdal.Open(before).GetGeoTransform()
    left_two_columns = (gt[0], gt[3] - 1280 * 0.3, gt[0] + 2 * 256 * 0.3, gt[3])
    summary = detect_changes(before, after, default_model, tmp_path / "c.gpkg",
                             settings=TileSettings(extent=left_two_columns), threshold=1.5,
                             cache_dir=tmp_path)
    assert summary["tiles_compared"] == 10 and summary["tiles_changed"] == 0
    assert summary["threshold_rule"] == "given"


def s2_pair(tmp_path, shared_data):
    """A real Sentinel-2 patch (12 bands, UTM 19S) and a copy on the same grid whose upper-left
    quarter holds another real patch's pixels (as two dates of one Sentinel-2 tile come)."""
    folder = shared_data / "scenes" / "satclip_s2"
    before = str(folder / "patch_75123.tif")
    other = gdal.Open(str(folder / "patch_70975.tif")).ReadAsArray()
    after = tmp_path / "after.tif"
    copy = gdal.GetDriverByName("GTiff").CreateCopy(str(after), gdal.Open(before))
    for band in range(12):
        values = copy.GetRasterBand(band + 1).ReadAsArray()
        values[:128, :128] = other[band, :128, :128]
        copy.GetRasterBand(band + 1).WriteArray(values)
    copy = None
    return before, str(after)


def quarter_and_rest(rows, before):
    """Change scores of the tiles in the replaced upper-left quarter, and of the others."""
    gt = gdal.Open(before).GetGeoTransform()
    quarter, rest = [], []
    for row in rows:
        centre = row.GetGeometryRef().Centroid()
        inside = centre.GetX() < gt[0] + 128 * gt[1] and centre.GetY() > gt[3] + 128 * gt[5]
        (quarter if inside else rest).append(row["change"])
    return np.array(quarter), np.array(rest)


def test_sentinel2_patch_with_a_replaced_quarter(tmp_path, shared_data, default_model):
    before, after = s2_pair(tmp_path, shared_data)
    out = tmp_path / "changes.gpkg"
    settings = TileSettings(tile_size=32, gsd_m=0)  # 8 x 8 tiles of 320 m
    summary = detect_changes(before, after, default_model, out, cache_dir=tmp_path,
                             settings=settings)
    assert read_metadata(out)["image_encoder"] == "s2"
    assert summary["tiles_compared"] == 64 and not summary["warped"]
    _, _, rows = features(out)
    quarter, rest = quarter_and_rest(rows, before)
    assert len(quarter) == 16 and (quarter > summary["threshold"]).all()
    assert np.median(rest) < 0.01, "one stretch for both: the unchanged part is unchanged"
    # the same copy in longitude/latitude: resampling at 10 m moves the embeddings too
    moved = str(tmp_path / "after_4326.tif")
    gdal.Warp(moved, after, dstSRS="EPSG:4326", resampleAlg="bilinear")
    summary = detect_changes(before, moved, default_model, out, cache_dir=tmp_path,
                             settings=settings)
    _, _, rows = features(out)
    quarter, rest = quarter_and_rest(rows, before)
    assert summary["warped"] and np.median(quarter) > 2 * np.median(rest)


def test_rasters_that_do_not_overlap_are_refused(shared_data, default_model, tmp_path):
    folder = shared_data / "scenes" / "satclip_s2"
    with pytest.raises(ValueError, match="do not overlap"):
        detect_changes(str(folder / "patch_75123.tif"), str(folder / "patch_70975.tif"),
                       default_model, tmp_path / "c.gpkg", cache_dir=tmp_path)
    assert not (tmp_path / "c.gpkg").exists()


def test_different_band_sets_are_refused_unless_mapped(shared_data, default_model, tmp_path):
    before = str(shared_data / "scenes" / "satclip_s2" / "patch_75123.tif")
    rgb = str(tmp_path / "rgb.tif")
    gdal.Translate(rgb, before, bandList=[4, 3, 2])
    settings = TileSettings(tile_size=64, gsd_m=0)
    with pytest.raises(ValueError, match="different band sets: the first has 12 bands"):
        detect_changes(before, rgb, default_model, tmp_path / "c.gpkg", settings=settings,
                       cache_dir=tmp_path)
    mapped = TileSettings(tile_size=64, gsd_m=0, bands="4,3,2", encoder="rgb")
    summary = detect_changes(before, rgb, default_model, tmp_path / "c.gpkg", settings=mapped,
                             bands_after="1,2,3", cache_dir=tmp_path, threshold=0.5)
    assert not summary["warped"], "the same grid is not warped"
    assert summary["tiles_compared"] == 16 and summary["tiles_changed"] == 0


def test_tiles_cut_by_nodata_in_one_date_only_are_not_compared(demo_pair, default_model,
                                                                 tmp_path):
    """The same mosaic as after, its right part nodata from the middle of a scene: the tiles
    the nodata edge cuts would look changed; they are left out, and none is marked."""
    before, _, _ = demo_pair
    after = str(tmp_path / "after_cut.tif")
    gdal.Translate(after, before, noData=0)
    dataset = gdal.Open(after, gdal.GA_Update)
    cut = 512 + 128  # raster pixels: the middle of the third scene column (256 px a scene)
    for number in range(1, dataset.RasterCount + 1):
        band = dataset.GetRasterBand(number)
        band.WriteArray(np.zeros((dataset.RasterYSize, dataset.RasterXSize - cut), np.uint8),
                        cut, 0)
    dataset = None
    warnings = []
    summary = detect_changes(before, after, default_model, tmp_path / "c.gpkg",
                             cache_dir=tmp_path / "cache", threshold=0.05,
                             control=RunControl(warning=warnings.append))
    assert summary["tiles_compared"] == 10 and summary["tiles_changed"] == 0  # 2 whole columns
    assert any("tiles were not compared: nodata covers a different part" in w
               for w in warnings), "the half-covered tiles of the third column"


def test_tiles_of_one_value_in_one_date_are_not_compared_and_said(demo_pair, default_model,
                                                                  tmp_path):
    """The same mosaic as after, its two right scene columns filled with black and no nodata
    flag (a border of one value): those tiles are skipped in that date, not compared, and the
    log says how many."""
    before, _, _ = demo_pair
    after = str(tmp_path / "after_black.tif")
    gdal.Translate(after, before)
    dataset = gdal.Open(after, gdal.GA_Update)
    kept = 3 * 256  # raster pixels: three scene columns of 256 px
    for number in range(1, dataset.RasterCount + 1):
        dataset.GetRasterBand(number).WriteArray(
            np.zeros((dataset.RasterYSize, dataset.RasterXSize - kept), np.uint8), kept, 0)
    dataset = None
    warnings = []
    summary = detect_changes(before, after, default_model, tmp_path / "c.gpkg",
                             cache_dir=tmp_path / "cache", threshold=0.05,
                             control=RunControl(warning=warnings.append))
    assert summary["tiles_compared"] == 15 and summary["tiles_changed"] == 0
    assert any(w.startswith("10 tiles were not compared: only one of the rasters") for w in
               warnings)


def test_cancel_writes_nothing(demo_pair, default_model, tmp_path):
    before, after, _ = demo_pair
    control = RunControl(is_cancelled=lambda: True)
    with pytest.raises(Cancelled):
        detect_changes(before, after, default_model, tmp_path / "c.gpkg", tmp_path / "h.tif",
                       cache_dir=tmp_path, control=control)
    assert not list(tmp_path.glob("*.gpkg")) and not list(tmp_path.glob("*.tif"))


class CountingSource:
    """A raster source stand-in that counts its reads (each valid everywhere)."""

    def __init__(self, always_valid):
        self.always_valid, self.reads = always_valid, 0

    def read(self, window, side):
        self.reads += 1
        return None, np.ones((side, side), bool), 1.0


def test_nodata_agreement_reads_nothing_when_neither_raster_has_nodata():
    windows = [(0, 0, 64, 64), (64, 0, 64, 64)]
    plain, also_plain = CountingSource(True), CountingSource(True)
    assert same_nodata(plain, also_plain, windows, RunControl()).all()
    assert plain.reads == also_plain.reads == 0
    masked = CountingSource(False)
    assert same_nodata(plain, masked, windows, RunControl()).all()
    assert plain.reads == masked.reads == 2


def test_a_lon_lat_before_raster_is_compared_on_its_square_ground_pixels(demo_pair,
                                                                         default_model,
                                                                         tmp_path):
    """The demo mosaic warped to EPSG:4326 (pixels 1.2 times higher than wide at 33.8 N)
    against the UTM original: the second raster is warped straight onto the first's square
    ground pixels, so only the first is said to be squared, and nothing has changed."""
    utm, _, _ = demo_pair
    lonlat = str(tmp_path / "mosaic_4326.tif")
    gdal.Warp(lonlat, utm, dstSRS="EPSG:4326", resampleAlg="bilinear", dstNodata=0)
    messages = []
    summary = detect_changes(lonlat, utm, default_model, tmp_path / "c.gpkg",
                             cache_dir=tmp_path / "cache",
                             control=RunControl(progress=lambda _, m: messages.append(m)))
    squared = [m for m in messages if "resampled to square pixels" in m]
    assert len(squared) == 1 and squared[0].startswith("before")
    assert summary["tiles_compared"] >= 25 and summary["tiles_changed"] == 0
    assert summary["tiles_not_compared"] == 0
    record = read_metadata(tmp_path / "c.gpkg")
    assert record["raster"]["square_pixels"] is not None
    assert "square_pixels" not in record["after_raster"]
