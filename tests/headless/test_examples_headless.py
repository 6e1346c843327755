"""Headless: label tiles from examples with `qgis_process`, the default model on real scenes."""

import csv

from example_layers import write_examples
from osgeo import ogr, osr

from terralens.plugin.core.outputs import read_metadata

# demo/data/ucm_mosaic.tif: 25 held-out UC Merced scenes of 256 px at 0.3 m (UTM 16N); one
# scene is one tile of the default model (128 px at 0.6 m)
CORNER, SCENE_M = (741000.0, 3741000.0), 256 * 0.3


def utm16():
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32616)
    return srs.ExportToWkt()


def test_points_in_lon_lat_label_the_demo_mosaic(qgis_process, tmp_path, repo_root):
    """One example point (WGS 84) on the first scene of each class that has two: the second
    scenes, never examples, get their class; a second run encodes nothing."""
    data = repo_root / "demo" / "data"
    with open(data / "ucm_mosaic_truth.csv", encoding="utf-8") as handle:
        scenes = [(int(r["row"]), int(r["col"]), r["scene_class"]) for r in csv.DictReader(handle)]
    twice = {name for _, _, name in scenes if sum(n == name for _, _, n in scenes) == 2}
    first, points, classes = set(), [], []
    for row, col, name in scenes:
        if name in twice and name not in classes:
            first.add((row, col))
            x, y = CORNER[0] + (col + 0.5) * SCENE_M, CORNER[1] - (row + 0.5) * SCENE_M
            points.append(f"POINT ({x} {y})")
            classes.append(name)
    examples = write_examples(tmp_path / "samples.gpkg", points, utm16(), 4326,
                              {"class": classes})
    out = tmp_path / "labels.gpkg"
    args = ["run", "terralens:labelfromexamples", "--", f"INPUT={data / 'ucm_mosaic.tif'}",
            f"EXAMPLES={examples}", "CLASS_FIELD=class",
            f"MODEL={repo_root / 'models' / 'terralens-effnet-minilm-v1'}",
            f"CACHE_DIR={tmp_path / 'cache'}", f"OUTPUT={out}"]
    result = qgis_process.run_json(*args)
    assert result["results"]["OUTPUT"] == str(out)
    dataset = ogr.Open(str(out))
    labels = [feature["label"] for feature in dataset.GetLayer(0)]
    assert len(labels) == 25
    for (row, col, name), label in zip(scenes, labels):
        if name in twice and (row, col) not in first:
            assert label == name, (row, col)
    record = read_metadata(out)
    assert record["examples"]["used"] == 4 and record["parameters"]["labels"] == sorted(classes)
    again = qgis_process.run(*args[:-1], f"OUTPUT={tmp_path / 'again.gpkg'}")
    assert "ucm_mosaic: 25 tiles, reused" in again.stdout  # the index cached by the first


def test_a_missing_class_field_fails_with_the_choices(qgis_process, tmp_path, spacenet, tiny):
    examples = write_examples(tmp_path / "e.gpkg", ["POINT (-84.39 33.77)"], None, 4326,
                              {"kind": ["a"]})
    result = qgis_process.run("run", "terralens:labelfromexamples", "--", f"INPUT={spacenet}",
                              f"EXAMPLES={examples}", "CLASS_FIELD=class", f"MODEL={tiny}",
                              f"OUTPUT={tmp_path / 'x.gpkg'}", check=False)
    assert result.returncode != 0
    assert "no field 'class': choose the class field among fid, kind" in (result.stdout
                                                                           + result.stderr)
    assert not (tmp_path / "x.gpkg").exists()
