"""Headless: every algorithm runs through `qgis_process run`, also with --json and in a batch."""

import json

from osgeo import ogr


def count(path):
    dataset = ogr.Open(str(path))
    return dataset.GetLayer(0).GetFeatureCount()


def test_every_algorithm_is_listed(qgis_process):
    listing = qgis_process.run_json("list")
    algorithms = listing["providers"]["terralens"]["algorithms"]
    assert sorted(algorithms) == ["terralens:buildindex", "terralens:changedetection",
                                  "terralens:labelfromexamples", "terralens:promptmask",
                                  "terralens:searchbyexample", "terralens:textsearch",
                                  "terralens:zeroshotlabel"]


def test_zeroshotlabel_headless_with_json(qgis_process, tmp_path, spacenet, tiny):
    out = tmp_path / "labels.gpkg"
    result = qgis_process.run_json("run", "terralens:zeroshotlabel", "--", f"INPUT={spacenet}",
                                   "LABELS=forest,buildings,road", f"MODEL={tiny}",
                                   "TILE_SIZE=128", f"OUTPUT={out}")
    assert result["results"]["OUTPUT"] == str(out)
    assert count(out) == 64
    assert result["results"]["REFINED_TILES"] >= 0  # refinement runs by default


def test_zeroshotlabel_headless_without_refinement(qgis_process, tmp_path, spacenet, tiny):
    out = tmp_path / "labels.gpkg"
    result = qgis_process.run_json("run", "terralens:zeroshotlabel", "--", f"INPUT={spacenet}",
                                   "LABELS=forest,buildings,road", f"MODEL={tiny}",
                                   "TILE_SIZE=128", "REFINE=false", f"OUTPUT={out}")
    assert result["results"]["REFINED_TILES"] == 0 and count(out) == 64
    assert "not refined (turned off)" in json.dumps(result)


def test_index_search_and_mask_headless(qgis_process, tmp_path, spacenet, tiny):
    cache = tmp_path / "cache"
    common = [f"MODEL={tiny}", "TILE_SIZE=128", f"CACHE_DIR={cache}"]
    built = qgis_process.run_json("run", "terralens:buildindex", "--", f"INPUT={spacenet}",
                                  *common)
    assert built["results"]["TILES"] == 64
    hits = tmp_path / "hits.gpkg"
    qgis_process.run("run", "terralens:textsearch", "--", f"INPUT={spacenet}",
                     "QUERY=houses beside a road", "K=7", f"OUTPUT={hits}", *common)
    assert count(hits) == 7
    mask = tmp_path / "mask.gpkg"
    qgis_process.run("run", "terralens:promptmask", "--", f"INPUT={spacenet}",
                     "PROMPT=building", "THRESHOLD=0.3", f"MODEL={tiny}", "TILE_SIZE=128",
                     f"OUTPUT={mask}")
    assert mask.is_file()


def test_bad_input_fails_with_the_reason(qgis_process, tmp_path, spacenet, tiny):
    result = qgis_process.run("run", "terralens:zeroshotlabel", "--", f"INPUT={spacenet}",
                              "LABELS= , ", f"MODEL={tiny}", f"OUTPUT={tmp_path / 'x.gpkg'}",
                              check=False)
    assert result.returncode != 0
    assert "no labels" in result.stdout + result.stderr
    assert not (tmp_path / "x.gpkg").exists()


def test_batch_over_several_rasters(qgis_process, tmp_path, shared_data, tiny):
    """The documented shell loop: one run a raster, as a user's batch script does."""
    rasters = sorted((shared_data / "scenes/satclip_s2").glob("patch_*.tif"))[:3]
    for raster in rasters:
        out = tmp_path / f"{raster.stem}.gpkg"
        result = qgis_process.run_json("run", "terralens:zeroshotlabel", "--", f"INPUT={raster}",
                                       "LABELS=forest,water,farmland,city", "BANDS=4,3,2",
                                       f"MODEL={tiny}", "TILE_SIZE=64", f"OUTPUT={out}")
        assert count(result["results"]["OUTPUT"]) == 16


def test_sentinel2_sensor_encoder_and_location_prior_headless(qgis_process, tmp_path,
                                                              shared_data, repo_root):
    """A 12-band Sentinel-2 patch gets the model's s2 encoder; the prior weight is recorded."""
    from terralens.plugin.core.outputs import read_metadata
    raster = shared_data / "scenes" / "satclip_s2" / "patch_25630.tif"
    model = repo_root / "tests" / "data" / "tiny-sensors"
    out = tmp_path / "s2.gpkg"
    qgis_process.run_json("run", "terralens:zeroshotlabel", "--", f"INPUT={raster}",
                          "LABELS=forest,water,farmland", f"MODEL={model}", "TILE_SIZE=64",
                          "LOCATION_WEIGHT=0.5", f"OUTPUT={out}")
    record = read_metadata(out)
    assert record["image_encoder"] == "s2" and record["raster"]["bands"] == list(range(1, 13))
    assert record["parameters"]["location_weight"] == 0.5
    assert count(out) == 16  # 256 x 256 pixels at the encoder's 10 m, 64-pixel tiles
