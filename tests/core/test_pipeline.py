"""The three jobs end to end on real GeoTIFFs with the tiny test bundles."""

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from terralens.plugin.core import pipeline
from terralens.plugin.core.encoders import load_model
from terralens.plugin.core.outputs import read_metadata
from terralens.plugin.core.run_control import Cancelled, RunControl
from terralens.plugin.core.tiled_raster import TileSettings

LABELS = "forest, river, parking lot, houses"


@pytest.fixture(scope="module")
def wordpiece_model(repo_root):
    return load_model(repo_root / "tests/data/tiny-wordpiece")


@pytest.fixture(scope="module")
def clip_model(repo_root):
    return load_model(repo_root / "tests/data/tiny-clip")


def features(path):
    dataset = ogr.Open(str(path))
    layer = dataset.GetLayer(0)
    return dataset, layer, list(layer)


def raster_bounds(path):
    ds = gdal.Open(str(path))
    g = ds.GetGeoTransform()
    return g[0], g[3] + g[5] * ds.RasterYSize, g[0] + g[1] * ds.RasterXSize, g[3]


def test_label_raster_writes_ranked_labels_and_class_raster(tmp_path, ortho, wordpiece_model):
    out, classes = tmp_path / "labels.gpkg", tmp_path / "classes.tif"
    summary = pipeline.label_raster(ortho, wordpiece_model, LABELS, out,
                                    TileSettings(tile_size=128), class_raster_path=classes)
    dataset, layer, rows = features(out)
    assert len(rows) == summary["tiles_encoded"] > 0
    assert summary["tiles_encoded"] + summary["tiles_skipped"] == summary["tiles_total"]
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "32633"
    minx, miny, maxx, maxy = raster_bounds(ortho)
    for row in rows:
        assert row["score"] >= row["score_2"] >= row["score_3"]
        assert row["label"] in LABELS and row["score"] + row["score_2"] <= 1 + 1e-6
        gminx, gmaxx, gminy, gmaxy = row.GetGeometryRef().GetEnvelope()
        assert gminx >= minx - 1e-6 and gmaxy <= maxy + 1e-6
    assert sum(summary["label_counts"].values()) == len(rows)
    assert read_metadata(out)["model_id"] == "tiny-wordpiece"
    class_dataset = gdal.Open(str(classes))  # keep a reference: bands die with their dataset
    band = class_dataset.GetRasterBand(1)
    band.GetMetadata()  # GDAL 3.6's GeoTIFF driver reads the .aux.xml sidecar lazily
    assert band.GetCategoryNames()[1:] == ["forest", "river", "parking lot", "houses"]
    assert set(np.unique(band.ReadAsArray())) <= {0, 1, 2, 3, 4}


def test_min_score_turns_tiles_unknown(tmp_path, ortho, wordpiece_model):
    out = tmp_path / "labels.gpkg"
    pipeline.label_raster(ortho, wordpiece_model, LABELS, out, TileSettings(tile_size=256),
                          min_score=1.01, top_k=2)
    _, _, rows = features(out)
    assert {row["label"] for row in rows} == {"unknown"}


def test_cancel_half_way_leaves_no_file(tmp_path, ortho, wordpiece_model):
    polls = []

    def is_cancelled():
        polls.append(1)
        return len(polls) > 2

    progress = []
    with pytest.raises(Cancelled):
        pipeline.label_raster(ortho, wordpiece_model, LABELS, tmp_path / "labels.gpkg",
                              TileSettings(tile_size=64, batch_size=4),
                              control=RunControl(lambda f, m: progress.append(f), is_cancelled))
    assert list(tmp_path.iterdir()) == []
    assert progress and 0 < progress[-1] < 1


def test_index_is_reused_until_something_changes(tmp_path, spacenet, clip_model):
    settings = TileSettings(tile_size=128)
    index, path, reused = pipeline.index_raster(spacenet, clip_model, settings, tmp_path)
    assert not reused and path.is_file() and len(index) > 0
    calls = clip_model.image.calls
    again, path_again, reused = pipeline.index_raster(spacenet, clip_model, settings, tmp_path)
    assert reused and path_again == path and clip_model.image.calls == calls
    np.testing.assert_array_equal(again.embeddings, index.embeddings)
    _, other_path, reused = pipeline.index_raster(spacenet, clip_model,
                                                  TileSettings(tile_size=128, overlap=0.5),
                                                  tmp_path)
    assert not reused and other_path != path


def test_index_rasters_shares_progress_and_reuses_memory(tmp_path, spacenet, ortho, clip_model):
    rasters = [("pan", spacenet, TileSettings(tile_size=128)),
               ("ortho", ortho, TileSettings(tile_size=256))]
    progress = []
    first = pipeline.index_rasters(rasters, clip_model, tmp_path,
                                   RunControl(lambda f, m: progress.append((f, m))))
    assert [r.source for r in first] == ["built", "built"]
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert (0.5, "pan: 64/64 tiles") in progress
    assert all(f > 0.5 for f, m in progress if m.startswith("ortho: "))
    calls = clip_model.image.calls
    memory = {first[0].key: first[0].index}
    again = pipeline.index_rasters(rasters, clip_model, tmp_path, memory=memory)
    assert [r.source for r in again] == ["memory", "disk"] and clip_model.image.calls == calls
    assert again[0].index is first[0].index and again[1].key == first[1].key
    assert [r.path for r in again] == [r.path for r in first]


def test_index_rasters_stops_between_rasters_when_cancelled(tmp_path, spacenet, ortho,
                                                           clip_model):
    done = []
    control = RunControl(lambda f, m: done.append(f), lambda: bool(done) and done[-1] >= 0.5)
    with pytest.raises(Cancelled):
        pipeline.index_rasters([("pan", spacenet, TileSettings(tile_size=128)),
                                ("ortho", ortho, TileSettings(tile_size=256))],
                               clip_model, tmp_path, control)
    assert len(list(tmp_path.glob("ortho*"))) == 0


def test_search_writes_ranked_tiles_and_heatmap(tmp_path, spacenet, ortho, clip_model):
    first, _, _ = pipeline.index_raster(spacenet, clip_model, TileSettings(tile_size=128),
                                        tmp_path)
    second, _, _ = pipeline.index_raster(ortho, clip_model, TileSettings(tile_size=256),
                                         tmp_path)
    out, heat = tmp_path / "hits.gpkg", tmp_path / "heat.tif"
    hits = pipeline.search([first], clip_model, "houses with pools", negatives=["trees"], k=5,
                           out_path=out, heatmap_path=heat)
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    assert all(a["score"] >= b["score"] for a, b in zip(hits, hits[1:]))
    _, layer, rows = features(out)
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["query"] == "houses with pools"
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "32616"
    heat_ds = gdal.Open(str(heat))
    values = heat_ds.ReadAsArray()
    assert np.isfinite(values).mean() > 0.9
    assert np.nanmax(values) == pytest.approx(hits[0]["score"], abs=0.05)
    both = pipeline.search([first, second], clip_model, "a building", k=200)
    assert {h["index"] for h in both} == {0, 1}
    with pytest.raises(ValueError, match="query is empty"):
        pipeline.search([first], clip_model, "   ")


def test_search_over_two_utm_zones_puts_every_hit_in_place(tmp_path, spacenet, clip_model):
    """SpaceNet (UTM 16N) and the same scene warped to UTM 17N: every hit, from either raster,
    lands on the scene in the output's CRS (the first raster's, or the one asked for)."""
    zone17 = str(tmp_path / "atlanta_utm17.tif")
    gdal.Warp(zone17, spacenet, dstSRS="EPSG:32617")
    settings = TileSettings(tile_size=128)
    indexes = [r.index for r in pipeline.index_rasters(
        [("16N", spacenet, settings), ("17N", zone17, settings)], clip_model, tmp_path)]
    out = tmp_path / "hits.gpkg"
    hits = pipeline.search(indexes, clip_model, "houses", k=200, out_path=out)
    assert {h["index"] for h in hits} == {0, 1}
    minx, miny, maxx, maxy = raster_bounds(spacenet)
    slack = 60.0  # metres: the warped raster's edges are slanted in UTM 16N
    _, layer, rows = features(out)
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "32616"
    for row in rows:
        left, right, bottom, top = row.GetGeometryRef().GetEnvelope()
        assert minx - slack <= left and right <= maxx + slack, row["raster"]
        assert miny - slack <= bottom and top <= maxy + slack, row["raster"]
    in_17n = pipeline.search(indexes, clip_model, "houses", k=5,
                             crs_wkt=indexes[1].crs_wkt)
    x_17n = in_17n[0]["footprint"][0][0]
    assert abs(x_17n - gdal.Open(zone17).GetGeoTransform()[0]) < 1000


def test_prompt_mask_writes_polygons_and_probability(tmp_path, spacenet, wordpiece_model):
    out, prob = tmp_path / "mask.gpkg", tmp_path / "prob.tif"
    summary = pipeline.prompt_mask(spacenet, wordpiece_model, "building", out,
                                   TileSettings(tile_size=128), threshold=0.2,
                                   probability_path=prob)
    values = gdal.Open(str(prob)).ReadAsArray()
    assert np.nanmin(values) >= 0 and np.nanmax(values) <= 1
    _, layer, rows = features(out)
    assert len(rows) == summary["polygons"]
    expected = int(((values >= 0.2) & np.isfinite(values)).any())
    assert (len(rows) > 0) == bool(expected)
    for row in rows:
        assert row["prompt"] == "building" and 0.2 <= row["mean_score"] <= 1
        assert row["area"] == pytest.approx(row.GetGeometryRef().GetArea(), rel=1e-6)
    none = pipeline.prompt_mask(spacenet, wordpiece_model, "building", tmp_path / "none.gpkg",
                                TileSettings(tile_size=256), threshold=1.01)
    assert none["polygons"] == 0 and (tmp_path / "none.gpkg").is_file()
    with pytest.raises(ValueError, match="prompt is empty"):
        pipeline.prompt_mask(spacenet, wordpiece_model, "", tmp_path / "x.gpkg")


def make_raster(path, epsg, geotransform, data, nodata=None):
    bands, rows, cols = data.shape
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), cols, rows, bands, gdal.GDT_UInt16)
    dataset.SetGeoTransform(geotransform)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    dataset.SetProjection(srs.ExportToWkt())
    for number in range(bands):
        band = dataset.GetRasterBand(number + 1)
        if nodata is not None:
            band.SetNoDataValue(nodata)
        band.WriteArray(data[number])
    dataset = None
    return path


def test_geographic_16bit_raster_with_nodata(tmp_path, wordpiece_model):
    data = np.random.default_rng(0).integers(100, 4000, (13, 256, 256)).astype(np.uint16)
    data[:, :, :128] = 0  # left half is nodata
    path = make_raster(tmp_path / "geo.tif", 4326, (-84.4, 0.00001, 0, 33.8, 0, -0.00001), data,
                       nodata=0)
    out = tmp_path / "labels.gpkg"
    summary = pipeline.label_raster(path, wordpiece_model, LABELS, out,
                                    TileSettings(tile_size=64, bands=[4, 3, 2]))
    assert summary["tiles_encoded"] == 8 and summary["tiles_skipped"] == 8
    _, layer, rows = features(out)
    assert layer.GetSpatialRef().IsGeographic()
    assert all(row.GetGeometryRef().GetEnvelope()[0] >= -84.4 + 128 * 0.00001 - 1e-9
               for row in rows)


def test_bad_band_mapping_is_a_clear_error(tmp_path, spacenet, wordpiece_model):
    with pytest.raises(ValueError, match="band"):
        pipeline.label_raster(spacenet, wordpiece_model, LABELS, tmp_path / "x.gpkg",
                              TileSettings(bands=[1, 2, 5]))
    assert not (tmp_path / "x.gpkg").exists()


def test_extent_and_area_limit_the_tiles(tmp_path, spacenet, wordpiece_model):
    minx, miny, maxx, maxy = raster_bounds(spacenet)
    full = pipeline.label_raster(spacenet, wordpiece_model, LABELS, tmp_path / "all.gpkg",
                                 TileSettings(tile_size=128))
    quarter = (minx, (miny + maxy) / 2, (minx + maxx) / 2, maxy)
    by_extent = pipeline.label_raster(spacenet, wordpiece_model, LABELS, tmp_path / "e.gpkg",
                                      TileSettings(tile_size=128, extent=quarter))
    triangle = (f"POLYGON(({minx + 1} {maxy - 1}, {minx + 100} {maxy - 1}, "
                f"{minx + 1} {maxy - 100}, {minx + 1} {maxy - 1}))")
    by_area = pipeline.label_raster(spacenet, wordpiece_model, LABELS, tmp_path / "a.gpkg",
                                    TileSettings(tile_size=128, area_wkt=triangle))
    assert by_area["tiles_total"] < by_extent["tiles_total"] < full["tiles_total"]
    _, _, rows = features(tmp_path / "a.gpkg")
    area = ogr.CreateGeometryFromWkt(triangle)
    assert rows and all(row.GetGeometryRef().Intersects(area) for row in rows)
    outside = (maxx + 10, maxy + 10, maxx + 20, maxy + 20)
    with pytest.raises(ValueError, match="no tile"):
        pipeline.label_raster(spacenet, wordpiece_model, LABELS, tmp_path / "o.gpkg",
                              TileSettings(extent=outside))
