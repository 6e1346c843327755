"""Prompt masks over a whole raster (pipeline.prompt_mask): polygons, probability raster."""

import json

import numpy as np
import pytest
from gdal_files import features, make_tif
from osgeo import gdal

from terralens.plugin.core import pipeline
from terralens.plugin.core.outputs import METADATA_KEY
from terralens.plugin.core.run_control import RunControl
from terralens.plugin.core.tiled_raster import TileSettings


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


def test_default_mask_is_dense_with_an_automatic_threshold_on_record(tmp_path, spacenet,
                                                                      wordpiece_model):
    out, prob = tmp_path / "mask.gpkg", tmp_path / "prob.tif"
    summary = pipeline.prompt_mask(spacenet, wordpiece_model, "building", out,
                                   TileSettings(tile_size=128), probability_path=prob)
    dataset = gdal.Open(str(prob))
    assert (dataset.RasterXSize, dataset.RasterYSize) == (900, 900)  # the raster's own pixels
    values = dataset.ReadAsArray()
    assert summary["threshold_rule"].startswith("automatic threshold")
    assert (summary["polygons"] > 0) == bool((values >= summary["threshold"]).any())
    record = json.loads(dataset.GetMetadataItem(METADATA_KEY))
    assert record["parameters"]["method"] == "dense"
    assert dataset.GetRasterBand(1).GetDescription() == "probability of 'building'"
    assert record["parameters"]["threshold"] == pytest.approx(summary["threshold"])
    assert record["tiling"]["overlap"] == pytest.approx(0.75)
    # specks under a quarter of a score cell (32 of the 128 px tile a side) are merged away
    assert record["parameters"]["min_region_share"] == 0.25
    assert record["parameters"]["min_region_pixels"] == int(0.25 * 32 * 32)
    specks = pipeline.prompt_mask(spacenet, wordpiece_model, "building", tmp_path / "s.gpkg",
                                  TileSettings(tile_size=128), min_region_share=0.0)
    assert specks["threshold"] == summary["threshold"]
    assert specks["polygons"] > summary["polygons"]
    # a tile every cell: 16 windows a tile area (and the edges), against one tiling
    tiles = pipeline.prompt_mask(spacenet, wordpiece_model, "building", tmp_path / "t.gpkg",
                                 TileSettings(tile_size=128), method="tiles")
    assert summary["tiles_total"] > 10 * tiles["tiles_total"]
    with pytest.raises(ValueError, match="method"):
        pipeline.prompt_mask(spacenet, wordpiece_model, "building", tmp_path / "x.gpkg",
                             method="pixels")


def test_a_prompt_that_never_wins_is_warned_about(tmp_path, repo_root, wordpiece_model):
    """A grey raster with faint noise: Otsu still cuts the map in two; the log says when the
    prompt never beats an even split with its background words (the default model's
    `tennis court`, 0.04 there against 1/7 with version 1.2; its `airplane` reaches 0.28), and
    not otherwise (the tiny model scores `building` high)."""
    from terralens.plugin.core import registry

    default = registry.cached_model(str(repo_root / "models" / "terralens-effnet-minilm-v1"))
    rng = np.random.default_rng(0)
    path = make_tif(tmp_path / "grey.tif", [120 + rng.integers(0, 3, (256, 256))] * 3,
                    dtype=gdal.GDT_Byte)
    for model, tile_size, prompt in ((default, None, "tennis court"),
                                     (wordpiece_model, 64, "building")):
        warnings, prob = [], tmp_path / f"p{tile_size}.tif"
        summary = pipeline.prompt_mask(path, model, prompt, tmp_path / f"m{tile_size}.gpkg",
                                       TileSettings(tile_size=tile_size), probability_path=prob,
                                       control=RunControl(warning=warnings.append))
        assert summary["tiles_flat"] == 0  # 3 grey levels are detail enough
        record = json.loads(gdal.Open(str(prob)).GetMetadataItem(METADATA_KEY))
        even = 1.0 / (1 + len(record["parameters"]["background"]))
        below = bool(np.nanmax(gdal.Open(str(prob)).ReadAsArray()) < even)
        assert below == (model is default)
        assert any("never scores above an even split" in w for w in warnings) == below
        assert summary["threshold_rule"].startswith("automatic")


def test_a_blank_raster_gets_no_mask_and_says_why(tmp_path, repo_root):
    """One value everywhere (the default model scored `building` up to 0.42 there and masked
    85 % of it): every tile is skipped like nodata, the mask is empty and the log says why."""
    from terralens.plugin.core import registry

    default = registry.cached_model(str(repo_root / "models" / "terralens-effnet-minilm-v1"))
    path = make_tif(tmp_path / "blank.tif", [np.full((256, 256), 120)] * 3)
    warnings, prob = [], tmp_path / "p.tif"
    summary = pipeline.prompt_mask(path, default, "building", tmp_path / "m.gpkg",
                                   TileSettings(), probability_path=prob,
                                   control=RunControl(warning=warnings.append))
    assert summary["polygons"] == 0 and summary["tiles_encoded"] == 0
    assert summary["tiles_flat"] == summary["tiles_total"] > 0
    assert "one value" in summary["empty_reason"]
    assert any(w.startswith("every tile") and "one value in every band" in w for w in warnings)
    assert np.isnan(gdal.Open(str(prob)).ReadAsArray()).all()


def test_dense_mask_leaves_nodata_out(tmp_path, wordpiece_model):
    rng = np.random.default_rng(0)
    pixels = rng.integers(1, 1000, (3, 200, 200)).astype(np.uint16)
    pixels[:, :, 120:] = 0  # the right part has no data
    raster = make_tif(tmp_path / "half.tif", pixels, nodata=0)
    prob = tmp_path / "prob.tif"
    pipeline.prompt_mask(raster, wordpiece_model, "building", tmp_path / "m.gpkg",
                         TileSettings(tile_size=64, gsd_m=0), probability_path=prob)
    values = gdal.Open(str(prob)).ReadAsArray()
    assert np.isnan(values[:, 120:]).all() and np.isfinite(values[:, :100]).all()


def test_a_failed_probability_raster_takes_the_mask_layer_with_it(tmp_path, spacenet,
                                                                  wordpiece_model):
    """Outputs are all or nothing: here the raster's folder is a file."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(OSError):
        pipeline.prompt_mask(spacenet, wordpiece_model, "building", tmp_path / "mask.gpkg",
                             TileSettings(tile_size=128), probability_path=blocker / "p.tif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


def test_probability_raster_of_a_lon_lat_raster_lies_on_its_pixels(tmp_path, wordpiece_model):
    """Read as square ground pixels (60 N: 200 x 399), the raster's probability map is written
    back on its own 200 x 200 pixel grid, nodata where it has none."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(1, 1000, (3, 200, 200)).astype(np.uint16)
    pixels[:, :, 120:] = 0
    raster = make_tif(tmp_path / "north.tif", pixels, nodata=0, epsg=4326,
                      geotransform=(10.0, 1e-4, 0.0, 60.0, 0.0, -1e-4))
    prob = tmp_path / "prob.tif"
    pipeline.prompt_mask(raster, wordpiece_model, "building", tmp_path / "m.gpkg",
                         TileSettings(tile_size=64, gsd_m=0), probability_path=prob)
    written = gdal.Open(str(prob))
    assert (written.RasterXSize, written.RasterYSize) == (200, 200)
    assert written.GetGeoTransform() == pytest.approx((10.0, 1e-4, 0.0, 60.0, 0.0, -1e-4))
    values = written.ReadAsArray()
    assert np.isnan(values[:, 121:]).all() and np.isfinite(values[:, :100]).all()
    record = json.loads(written.GetMetadataItem(METADATA_KEY))
    assert record["raster"]["square_pixels"]["size"] == [200, 399]


@pytest.mark.parametrize("method", ["tiles", "dense"])
def test_mask_polygons_stay_inside_the_raster(tmp_path, spacenet, wordpiece_model, method):
    """Every cell marked (threshold 0): the mask is the raster's outline, although the tile
    method's coarse grid (900 px in cells of 8) runs past its right and bottom edges."""
    pipeline.prompt_mask(spacenet, wordpiece_model, "building", tmp_path / "m.gpkg",
                         TileSettings(tile_size=128, gsd_m=0), threshold=0.0, method=method)
    _, _, rows = features(tmp_path / "m.gpkg")
    minx, maxx, miny, maxy = raster_envelope(spacenet)
    for row in rows:
        left, right, bottom, top = row.GetGeometryRef().GetEnvelope()
        assert left >= minx - 1e-6 and right <= maxx + 1e-6
        assert bottom >= miny - 1e-6 and top <= maxy + 1e-6
    assert sum(r["area"] for r in rows) == pytest.approx((maxx - minx) * (maxy - miny), rel=0.01)


def raster_envelope(path):
    dataset = gdal.Open(str(path))
    g = dataset.GetGeoTransform()
    right, bottom = g[0] + dataset.RasterXSize * g[1], g[3] + dataset.RasterYSize * g[5]
    return g[0], right, bottom, g[3]
