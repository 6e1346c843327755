"""Zero-shot labelling of a whole raster (pipeline.label_raster) on real and small GeoTIFFs."""


import json
import shutil

import numpy as np
import pytest
from gdal_files import features, make_tif, ramp_bands, raster_bounds
from osgeo import gdal, ogr

from terralens.plugin.core import location, pipeline
from terralens.plugin.core.encoders import load_model
from terralens.plugin.core.labels import label_embeddings
from terralens.plugin.core.outputs import read_metadata
from terralens.plugin.core.run_control import Cancelled, RunControl
from terralens.plugin.core.tiled_raster import TileSettings, open_tiled

LABELS = "forest, river, parking lot, houses"
PLACE_LABELS = ["forest", "river", "harbour", "desert"]


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
    assert band.GetDescription() == "best label"
    assert set(np.unique(band.ReadAsArray())) <= {0, 1, 2, 3, 4}
    # 1243 x 841 pixels in cells of 16: the class raster ends on the raster's edges all the same
    assert raster_bounds(classes) == pytest.approx(raster_bounds(ortho), abs=1e-6)


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


def test_geographic_16bit_raster_with_nodata(tmp_path, wordpiece_model):
    data = np.random.default_rng(0).integers(100, 4000, (13, 256, 256)).astype(np.uint16)
    data[:, :, :128] = 0  # left half is nodata
    path = make_tif(tmp_path / "geo.tif", data, nodata=0, epsg=4326,
                    geotransform=(-84.4, 0.00001, 0, 33.8, 0, -0.00001))
    out = tmp_path / "labels.gpkg"
    summary = pipeline.label_raster(path, wordpiece_model, LABELS, out,
                                    TileSettings(tile_size=64, bands=[4, 3, 2]))
    # At 33.8 N its pixels are 1.2 times higher than wide on the ground: read as square ones
    # of their shorter side, 256 x 307 of them: 4 x 5 tiles of 64, half (mostly left) nodata.
    assert summary["tiles_encoded"] == 10 and summary["tiles_skipped"] == 10
    _, layer, rows = features(out)
    assert layer.GetSpatialRef().IsGeographic()
    boundary = -84.4 + 128 * 0.00001
    assert all((row.GetGeometryRef().Centroid().GetX() > boundary) for row in rows)
    assert all(row.GetGeometryRef().GetEnvelope()[1] <= -84.4 + 256 * 0.00001 + 1e-9
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


def test_a_strong_prior_decides_the_labels(sensors, raster, tmp_path):
    settings = TileSettings(tile_size=32, gsd_m=0)
    out = tmp_path / "prior.gpkg"
    summary = pipeline.label_raster(raster, sensors, PLACE_LABELS, out, settings, templates="{}",
                                    top_k=1, location_weight=1000.0)
    vectors = label_embeddings(sensors.text, PLACE_LABELS, ["{}"])
    tiled = open_tiled(raster, sensors, settings)
    centres = location.window_centres(tiled.windows, tiled.source.geotransform)
    best = location.prior_scores(sensors, centres, tiled.source.crs_wkt, vectors).argmax(axis=1)
    expected = np.asarray(PLACE_LABELS)[best]
    counts = {label: int((expected == label).sum()) for label in set(expected)}
    assert summary["label_counts"] == counts
    assert read_metadata(out)["parameters"]["location_weight"] == 1000.0


def test_model_without_location_encoder_says_so(tiny, raster, tmp_path):
    model = load_model(tiny)
    with pytest.raises(location.LocationError, match="no location encoder"):
        pipeline.label_raster(raster, model, PLACE_LABELS, tmp_path / "x.gpkg",
                              TileSettings(tile_size=32), location_weight=1.0)
    assert not (tmp_path / "x.gpkg").exists()


def test_a_prior_on_a_raster_without_crs_fails_before_any_tile_is_encoded(sensors, tmp_path,
                                                                         monkeypatch):
    from terralens.plugin.core import batches

    path = make_tif(tmp_path / "nocrs.tif", [np.ones((64, 64), np.uint8) * 9] * 3, epsg=None)
    encoded = []
    monkeypatch.setattr(batches.EncodedBatches, "__iter__", lambda self: encoded.append(1))
    with pytest.raises(location.LocationError, match="georeferenced raster"):
        pipeline.label_raster(path, sensors, PLACE_LABELS, tmp_path / "x.gpkg",
                              TileSettings(tile_size=32, gsd_m=0), location_weight=1.0)
    assert encoded == [] and not (tmp_path / "x.gpkg").exists()


def test_pan_raster_labelled_with_pan_encoder(sensors, tmp_path):
    path = ramp_bands(tmp_path, 1, size=96)
    out = tmp_path / "labels.gpkg"
    pipeline.label_raster(path, sensors, "forest, river", out, TileSettings(tile_size=32))
    from terralens.plugin.core.outputs import read_metadata
    assert read_metadata(out)["image_encoder"] == "pan"


def test_warnings_reach_the_caller_once(tmp_path, ortho, wordpiece_model):
    heard = []
    control = RunControl(warning=heard.append)
    pipeline.label_raster(ortho, wordpiece_model, LABELS, tmp_path / "one.gpkg",
                          TileSettings(tile_size=64, gsd_m=2.0), control=control)
    assert len(heard) == 1 and heard == control.warnings and "one tile" in heard[0]


def best_labels(path):
    _, _, rows = features(path)
    return [row["label"] for row in rows]


def test_refinement_is_on_by_default_and_recorded(tmp_path, ortho, wordpiece_model):
    settings = TileSettings(tile_size=64, gsd_m=0.05)
    messages = []
    control = RunControl(lambda fraction, message: messages.append(message))
    refined = pipeline.label_raster(ortho, wordpiece_model, LABELS, tmp_path / "r.gpkg",
                                    settings, top_k=1, control=control)
    plain = pipeline.label_raster(ortho, wordpiece_model, LABELS, tmp_path / "p.gpkg",
                                  settings, top_k=1, refine=False)
    assert refined["tiles_encoded"] == plain["tiles_encoded"] > 20
    assert refined["refinement"]["ran"] and plain["refinement"] is None
    changed = sum(a != b for a, b in zip(best_labels(tmp_path / "r.gpkg"),
                                         best_labels(tmp_path / "p.gpkg")))
    assert changed == refined["refinement"]["changed_tiles"]
    assert changed > 0 and any(f": {changed} changed (" in m for m in messages)
    record = read_metadata(tmp_path / "r.gpkg")
    assert record["parameters"]["refine"]["method"] == "transclip-gmm-knn"
    assert record["refinement"] == refined["refinement"]
    assert read_metadata(tmp_path / "p.gpkg")["parameters"]["refine"] is False
    again = pipeline.label_raster(ortho, wordpiece_model, LABELS, tmp_path / "again.gpkg",
                                  settings, top_k=1)
    assert best_labels(tmp_path / "again.gpkg") == best_labels(tmp_path / "r.gpkg")
    assert again["label_counts"] == refined["label_counts"]


def test_one_tile_is_not_refined(tmp_path, ortho, wordpiece_model):
    summary = pipeline.label_raster(ortho, wordpiece_model, LABELS, tmp_path / "one.gpkg",
                                    TileSettings(tile_size=64, gsd_m=2.0))
    assert summary["tiles_encoded"] == 1 and not summary["refinement"]["ran"]


def test_a_single_label_is_warned_about(tmp_path, spacenet, wordpiece_model):
    control = RunControl()
    pipeline.label_raster(spacenet, wordpiece_model, "forest", tmp_path / "one.gpkg",
                          TileSettings(tile_size=128), control=control)
    _, _, rows = features(tmp_path / "one.gpkg")
    assert rows and all(row["score"] == pytest.approx(1.0) for row in rows)
    assert any("only one label" in warning for warning in control.warnings)


def test_a_filled_border_is_skipped_not_labelled(tmp_path, shared_data, wordpiece_model):
    """Four real UC Merced scenes inside a black border without a nodata flag (a mosaic's
    collar): the border tiles are left out like nodata, the scenes labelled; kept on request."""
    from PIL import Image

    canvas = np.zeros((3, 512, 512), np.uint8)
    for number, name in enumerate(["forest", "denseresidential", "agricultural", "river"]):
        scene = Image.open(shared_data / "ucm" / "images" / name / f"{name}07.webp")
        row, col = divmod(number, 2)
        canvas[:, 128 + row * 128:256 + row * 128, 128 + col * 128:256 + col * 128] = (
            np.asarray(scene.convert("RGB").resize((128, 128))).transpose(2, 0, 1))
    path = make_tif(tmp_path / "collar.tif", list(canvas), dtype=gdal.GDT_Byte)
    settings = TileSettings(tile_size=128, gsd_m=0)
    warnings = []
    summary = pipeline.label_raster(path, wordpiece_model, LABELS, tmp_path / "l.gpkg", settings,
                                    control=RunControl(warning=warnings.append))
    assert (summary["tiles_total"], summary["tiles_encoded"], summary["tiles_flat"]) == (16, 4, 12)
    assert any(w.startswith("12 tiles of 16 show one value") for w in warnings)
    assert read_metadata(tmp_path / "l.gpkg")["tiling"]["skip_flat"] is True
    kept = pipeline.label_raster(path, wordpiece_model, LABELS, tmp_path / "k.gpkg",
                                 TileSettings(tile_size=128, gsd_m=0, skip_flat=False))
    assert kept["tiles_encoded"] == 16 and kept["tiles_flat"] == 0


def test_refined_scores_are_softened_by_the_bundles_own_temperature(tmp_path, ortho, tiny):
    """A bundle that records `refine_score_temperature` gets it (1: the scores as optimised,
    surer than the plugin's 2.6); one that records none gets 2.6. No label changes."""
    sharp = shutil.copytree(tiny, tmp_path / "sharp")
    manifest = sharp / "bundle.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()),
                                    "refine_score_temperature": 1.0, "schema_version": 4}))
    settings = TileSettings(tile_size=64, gsd_m=0.05)
    rows = {}
    for name, folder in (("own", sharp), ("default", tiny)):
        pipeline.label_raster(ortho, load_model(folder), LABELS, tmp_path / f"{name}.gpkg",
                              settings, top_k=1)
        rows[name] = features(tmp_path / f"{name}.gpkg")[2]
        recorded = read_metadata(tmp_path / f"{name}.gpkg")["parameters"]["refine"]
        assert recorded["score_temperature"] == (1.0 if name == "own" else 2.6)
    assert [r["label"] for r in rows["own"]] == [r["label"] for r in rows["default"]]
    own, default = (np.array([r["score"] for r in rows[n]]) for n in ("own", "default"))
    assert np.all(own >= default - 1e-6) and own.mean() > default.mean() + 0.05
