"""Headless: search by example and what changed through `qgis_process run`, with --json."""

from example_layers import tile_centre, tile_square, write_examples
from osgeo import ogr

from terralens.plugin.core import pipeline
from terralens.plugin.core.registry import cached_model
from terralens.plugin.core.tiled_raster import TileSettings


def test_searchbyexample_headless(qgis_process, tmp_path, spacenet, tiny):
    index, _, _ = pipeline.index_raster(spacenet, cached_model(tiny), TileSettings(tile_size=128),
                                        tmp_path / "cache")
    examples = write_examples(tmp_path / "examples.gpkg",
                              [tile_square(index, 10), tile_square(index, 35)], index.crs_wkt,
                              4326)
    points = write_examples(tmp_path / "points.gpkg", [tile_centre(index, 20)], index.crs_wkt,
                            3857)
    out = tmp_path / "like.gpkg"
    result = qgis_process.run_json(
        "run", "terralens:searchbyexample", "--", f"INPUT={spacenet}", f"EXAMPLES={examples}",
        "WORDS=roofs", "K=6", f"MODEL={tiny}", "TILE_SIZE=128", f"CACHE_DIR={tmp_path / 'cache'}",
        f"OUTPUT={out}")
    assert result["results"]["OUTPUT"] == str(out)
    dataset = ogr.Open(str(out))
    layer = dataset.GetLayer(0)
    assert layer.GetFeatureCount() == 6
    assert layer.GetNextFeature()["query"] == "like 2 examples + roofs"
    qgis_process.run("run", "terralens:searchbyexample", "--", f"INPUT={spacenet}",
                     f"EXAMPLES={points}", "K=3", f"MODEL={tiny}", "TILE_SIZE=128",
                     f"CACHE_DIR={tmp_path / 'cache'}", f"OUTPUT={tmp_path / 'points.gpkg'}")
    assert ogr.Open(str(tmp_path / "points.gpkg")).GetLayer(0).GetFeatureCount() == 3


def test_changedetection_headless(qgis_process, tmp_path, repo_root, shared_data):
    data = repo_root / "demo" / "data"
    out = tmp_path / "changes.gpkg"
    result = qgis_process.run_json(
        "run", "terralens:changedetection", "--", f"BEFORE={data / 'ucm_mosaic.tif'}",
        f"AFTER={data / 'ucm_mosaic_after.tif'}", "LABELS=forest,houses,road,farmland",
        f"MODEL={repo_root / 'models' / 'terralens-effnet-minilm-v1'}",
        f"CACHE_DIR={tmp_path / 'cache'}", f"OUTPUT={out}", f"HEATMAP={tmp_path / 'heat.tif'}")
    results = result["results"]
    assert results["COMPARED"] == 25 and 5 <= results["CHANGED"] <= 6
    assert (tmp_path / "heat.tif").is_file()
    failed = qgis_process.run(
        "run", "terralens:changedetection", "--", f"BEFORE={data / 'ucm_mosaic.tif'}",
        f"AFTER={shared_data / 'scenes' / 'satclip_s2' / 'patch_75123.tif'}",
        f"MODEL={repo_root / 'tests/data/tiny-wordpiece'}", f"OUTPUT={tmp_path / 'x.gpkg'}",
        check=False)
    assert failed.returncode != 0 and "different band sets" in failed.stdout + failed.stderr
