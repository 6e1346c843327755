"""Free-text search over tile indexes (pipeline.search): ranking, result layer, CRS, heat-map."""

import numpy as np
import pytest
from gdal_files import features, raster_bounds
from osgeo import gdal

from terralens.plugin.core import location, pipeline
from terralens.plugin.core.outputs import read_metadata
from terralens.plugin.core.pipeline import text_search
from terralens.plugin.core.tiled_raster import TileSettings


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
    record = read_metadata(out)
    assert record["results"] == 5 and record["tiling"][0]["tiling"]["tile_px"] == 128
    assert record["tiling"][0]["tiling"]["views"] == 3 and "scale" in record["tiling"][0]
    heat_ds = gdal.Open(str(heat))
    values = heat_ds.ReadAsArray()
    # QGIS lists the band as "Band 1: score of 'houses with pools'"
    assert heat_ds.GetRasterBand(1).GetDescription() == "score of 'houses with pools'"
    # 900 pixels in cells of 16: the heat-map ends on the raster's edges all the same
    assert raster_bounds(heat) == pytest.approx(raster_bounds(spacenet), abs=1e-6)
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


def test_prior_changes_scores_and_search_ranking(sensors, raster, tmp_path):
    settings = TileSettings(tile_size=32, gsd_m=0)
    index, _, _ = pipeline.index_raster(raster, sensors, settings, cache_dir=tmp_path)
    plain = pipeline.search([index], sensors, "harbour", k=9)
    strong = pipeline.search([index], sensors, "harbour", k=9, location_weight=1000.0)
    query = sensors.text.encode(["harbour"])[0]
    centres = location.window_centres(index.windows, index.geotransform)
    prior = location.prior_scores(sensors, centres, index.crs_wkt, query[None])[:, 0]
    assert [hit["tile"] for hit in strong] == list(np.argsort(-prior)[:9])
    assert [hit["tile"] for hit in plain] != [hit["tile"] for hit in strong]


def test_large_index_reranks_its_best_candidates_with_the_prior(sensors, raster, tmp_path,
                                                                monkeypatch):
    index, _, _ = pipeline.index_raster(raster, sensors, TileSettings(tile_size=32, gsd_m=0),
                                        cache_dir=tmp_path)
    monkeypatch.setattr(text_search, "EXACT_SEARCH_LIMIT", 4)  # 9 tiles count as "large"
    monkeypatch.setattr(text_search, "PRIOR_CANDIDATES", 3)
    monkeypatch.setattr(text_search, "PRIOR_CANDIDATES_PER_HIT", 2)
    hits = pipeline.search([index], sensors, "harbour", k=2, location_weight=1000.0)
    query = sensors.text.encode(["harbour"])[0]
    candidates, _ = index.search(query, 4)  # max(3, 2 x 2): 4 of the 9 tiles
    centres = location.window_centres(index.windows[candidates], index.geotransform)
    prior = location.prior_scores(sensors, centres, index.crs_wkt, query[None])[:, 0]
    assert [hit["tile"] for hit in hits] == [int(candidates[i]) for i in np.argsort(-prior)[:2]]


def test_a_failed_results_layer_takes_the_heatmap_with_it(tmp_path, spacenet, wordpiece_model):
    """Outputs are all or nothing: here the layer's folder is a file."""
    index, _, _ = pipeline.index_raster(spacenet, wordpiece_model, TileSettings(tile_size=128),
                                        tmp_path / "cache")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(OSError):
        pipeline.search([index], wordpiece_model, "houses", out_path=blocker / "hits.gpkg",
                        heatmap_path=tmp_path / "heat.tif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "not-a-folder"]
