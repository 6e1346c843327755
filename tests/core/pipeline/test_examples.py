"""Labels from examples (pipeline.label_from_examples): real scenes, CRSs, text, bad input."""

import csv

import numpy as np
import pytest
from gdal_files import features
from osgeo import gdal, osr

from terralens.plugin.core import pipeline
from terralens.plugin.core.outputs import read_metadata
from terralens.plugin.core.pipeline.examples import parse_text_labels, sorted_classes
from terralens.plugin.core.run_control import Cancelled, RunControl
from terralens.plugin.core.tiled_raster import TileSettings

# demo/data/ucm_mosaic.tif: 25 held-out UC Merced scenes, 256 px at 0.3 m from this corner
# (UTM 16N); one scene is one tile of the default model (128 px at 0.6 m)
CORNER, SCENE_M = (741000.0, 3741000.0), 256 * 0.3
TWICE = ("airplane", "beach", "forest", "river")  # the classes with two scenes


def wkt(epsg):
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return srs.ExportToWkt()


def to_crs(points, epsg):
    """UTM 16N (x, y) points in EPSG `epsg`, x east."""
    source, target = osr.SpatialReference(), osr.SpatialReference()
    source.ImportFromEPSG(32616)
    target.ImportFromEPSG(epsg)
    for srs in (source, target):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    transform = osr.CoordinateTransformation(source, target)
    return [transform.TransformPoint(x, y)[:2] for x, y in points]


@pytest.fixture(scope="module")
def default_model(repo_root):
    from terralens.plugin.core.encoders import load_model

    folder = repo_root / "models" / "terralens-effnet-minilm-v1"
    if not (folder / "text.onnx").is_file():
        pytest.fail("the default model's text.onnx is missing: run make setup")
    return load_model(folder)


@pytest.fixture(scope="module")
def mosaic(repo_root):
    """(path, scenes as (row, col, class)) of the demo mosaic."""
    data = repo_root / "demo" / "data"
    with open(data / "ucm_mosaic_truth.csv", encoding="utf-8") as handle:
        scenes = [(int(r["row"]), int(r["col"]), r["scene_class"]) for r in csv.DictReader(handle)]
    return str(data / "ucm_mosaic.tif"), scenes


def scene_centre(row, col):
    return CORNER[0] + (col + 0.5) * SCENE_M, CORNER[1] - (row + 0.5) * SCENE_M


def test_examples_in_another_crs_label_the_held_out_scenes(tmp_path, default_model, mosaic):
    """Examples of three classes as points in WGS 84 and a fourth class by its words alone,
    then one polygon example in Web Mercator with the other classes by their words: the second
    scene of each class, never an example, gets its class (refined, the default, and not)."""
    path, scenes = mosaic
    first = {}
    for row, col, name in scenes:
        if name in TWICE and name not in first:
            first[name] = (row, col)
    names = sorted(first)
    points = to_crs([scene_centre(*first[name]) for name in names[:3]], 4326)
    x, y = to_crs([scene_centre(*first[names[3]])], 3857)[0]
    half = 30.0  # metres: most of the scene, well inside its tile
    polygon = (f"POLYGON (({x - half} {y - half}, {x + half} {y - half}, {x + half} {y + half}, "
               f"{x - half} {y + half}, {x - half} {y - half}))")
    cache = tmp_path / "cache"
    index = pipeline.index_rasters([("mosaic", path, None)], default_model, cache)[0].index
    calls = default_model.image.calls
    again = pipeline.index_rasters([("mosaic", path, None)], default_model, cache)[0]
    assert again.reused and default_model.image.calls == calls, "cached: nothing encoded"
    examples = pipeline.ExampleSet([f"POINT ({px} {py})" for px, py in points], names[:3],
                                   wkt(4326))
    polygons = pipeline.ExampleSet([polygon], names[3:], wkt(3857))
    out, classes = tmp_path / "labels.gpkg", tmp_path / "classes.tif"
    for refine in (True, False):
        summary = pipeline.label_from_examples(
            [index], default_model, examples, out, text_labels=names[3],  # river: by its words
            options=pipeline.LabelOptions(refine=refine))
        _, _, rows = features(out)
        by_place = {scene[:2]: r["label"] for scene, r in zip(scenes, rows)}
        assert summary["classes"] == names and summary["examples"]["used"] == 3
        for name in names:
            second = [(r, c) for r, c, n in scenes if n == name and (r, c) != first[name]]
            assert by_place[second[0]] == name, (name, refine)
        assert len(summary["refinement"]) == (1 if refine else 0)
    record = read_metadata(out)
    assert record["parameters"]["labels"] == names
    assert record["validation"]["method"] == "leave-one-out"
    assert record["classifier"]["classes_with_text"] == names
    assert record["parameters"]["refine"] is False and record["refinement"] == []
    # the polygon in Web Mercator picks its scene's tile; the other classes come from words
    both = pipeline.label_from_examples([index], default_model, polygons, tmp_path / "p.gpkg",
                                        text_labels=", ".join(names[:3]),
                                        options=pipeline.LabelOptions(class_raster_path=classes))
    assert both["examples"] == {"given": 1, "used": 1, "outside": 0, "unlabelled": 0,
                                "tiles": 1}
    assert both["classes"] == ["river"] + names[:3]
    assert both["refinement"][0]["ran"] and read_metadata(classes)["refinement"]
    dataset = gdal.Open(str(classes))  # keep a reference: bands die with their dataset
    band = dataset.GetRasterBand(1)
    band.GetMetadata()  # GDAL 3.6's GeoTIFF driver reads the .aux.xml sidecar lazily
    assert band.GetCategoryNames()[1:] == both["classes"]
    cells, cell_m = band.ReadAsArray(), dataset.GetGeoTransform()[1]
    for row, col, name in scenes:
        if name == "river":  # the example's scene and the other one
            x, y = scene_centre(row, col)
            value = cells[int((CORNER[1] - y) / cell_m), int((x - CORNER[0]) / cell_m)]
            assert value == 1, (row, col)


def test_integer_classes_with_words_and_a_class_known_by_text(tmp_path, clip_model, spacenet):
    index, _, _ = pipeline.index_raster(spacenet, clip_model, TileSettings(tile_size=128),
                                        tmp_path)
    centres = [np.mean(index.footprint(t), axis=0) for t in (0, 1, 9, 10, 30, 31)]
    examples = pipeline.ExampleSet([f"POINT ({x} {y})" for x, y in centres],
                                   ["12", "12", "3", "3", "12", "3"], ids=[5, 6, 7, 8, 9, 10])
    summary = pipeline.label_from_examples([index], clip_model, examples, tmp_path / "l.gpkg",
                                           text_labels="3=open water, parking lot")
    assert summary["classes"] == ["3", "12", "parking lot"]
    assert summary["text_labels"] == {"3": "open water", "parking lot": "parking lot"}
    assert summary["validation"]["per_class"]["12"]["examples"] == 3
    assert summary["tiles"] == len(index)
    _, layer, rows = features(tmp_path / "l.gpkg")
    assert {r["label"] for r in rows} <= {"3", "12", "parking lot"}
    assert [layer.GetLayerDefn().GetFieldDefn(i).GetName()
            for i in range(layer.GetLayerDefn().GetFieldCount())] == [
        "label", "score", "label_2", "score_2", "label_3", "score_3"]
    assert all(r["score"] >= r["score_2"] >= r["score_3"] for r in rows)


def test_examples_from_one_raster_label_another_in_its_crs(tmp_path, clip_model, spacenet):
    zone17 = str(tmp_path / "atlanta_utm17.tif")
    gdal.Warp(zone17, spacenet, dstSRS="EPSG:32617")
    settings = TileSettings(tile_size=128)
    first, second = (r.index for r in pipeline.index_rasters(
        [("a", spacenet, settings), ("b", zone17, settings)], clip_model, tmp_path))
    centres = [np.mean(first.footprint(t), axis=0) for t in (0, 5, 20, 40)]
    examples = pipeline.ExampleSet([f"POINT ({x} {y})" for x, y in centres],
                                   ["roofs", "roofs", "trees", "trees"])
    out = tmp_path / "both.gpkg"
    summary = pipeline.label_from_examples([second, first], clip_model, examples, out,
                                           options=pipeline.LabelOptions(
                                               raster_names=["17N", "16N"]))
    assert summary["tiles"] == len(first) + len(second)
    _, layer, rows = features(out)
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "32617"
    assert {r["raster"] for r in rows} == {"17N", "16N"}
    only_second = pipeline.label_from_examples([second], clip_model, examples,
                                               tmp_path / "b.gpkg", example_indexes=[first])
    assert only_second["tiles"] == len(second) and only_second["examples"]["used"] == 4


def test_outside_unlabelled_and_missing_classes_are_warned(tmp_path, clip_model, spacenet):
    index, _, _ = pipeline.index_raster(spacenet, clip_model, TileSettings(tile_size=128),
                                        tmp_path)
    inside = [np.mean(index.footprint(t), axis=0) for t in (0, 1, 2)]
    far = (0.0, 0.0)
    points = [f"POINT ({x} {y})" for x, y in inside + [far, far]]
    examples = pipeline.ExampleSet(points, ["roof", "tree", "tree", "lake", None],
                                   ids=[1, 2, 3, 4, 5])
    warnings = []
    summary = pipeline.label_from_examples([index], clip_model, examples, tmp_path / "l.gpkg",
                                           class_names_as_text=False,
                                           control=RunControl(warning=warnings.append))
    assert summary["classes"] == ["roof", "tree"]
    assert summary["examples"] == {"given": 5, "used": 3, "outside": 1, "unlabelled": 1,
                                   "tiles": 3}
    assert "1 examples have no class value" in warnings[0] and "feature 5 (no class)" in warnings[0]
    assert "1 of 4 examples lie on no tile" in warnings[1] and "feature 4 (lake)" in warnings[1]
    assert "'lake' has no example on the rasters and no text: dropped" in warnings[2]
    twins = pipeline.ExampleSet(points[:3], ["Roof", "roof", "tree"])
    said = []
    pipeline.label_from_examples([index], clip_model, twins, tmp_path / "t.gpkg",
                                 control=RunControl(warning=said.append))
    assert any("'Roof', 'roof' differ only in case" in w for w in said)
    kept = pipeline.label_from_examples([index], clip_model, examples, tmp_path / "k.gpkg")
    assert kept["classes"] == ["lake", "roof", "tree"]  # lake now has words: its name


def test_example_tiles_keep_their_class_and_many_examples_are_not_refined(
        tmp_path, clip_model, spacenet):
    """Refinement keeps each example tile's class (a tile that examples of two classes share
    keeps neither); with 8 examples a class the logistic regression labels alone."""
    index, _, _ = pipeline.index_raster(spacenet, clip_model, TileSettings(tile_size=128),
                                        tmp_path)
    centres = [np.mean(index.footprint(t), axis=0) for t in range(len(index))]

    def labelled(tiles, classes):
        return pipeline.ExampleSet([f"POINT ({centres[t][0]} {centres[t][1]})" for t in tiles],
                                   classes)
    few = labelled([0, 1, 2, 3, 4, 5], ["a", "b", "a", "b", "a", "b"])
    summary = pipeline.label_from_examples([index], clip_model, few, tmp_path / "few.gpkg")
    assert summary["classifier"]["method"] == "prototypes" and len(summary["refinement"]) == 1
    assert summary["refinement"][0]["example_tiles_kept"] == 6
    _, _, rows = features(tmp_path / "few.gpkg")
    assert [rows[t]["label"] for t in range(6)] == ["a", "b", "a", "b", "a", "b"]
    many = labelled(range(16), ["a", "b"] * 8)
    summary = pipeline.label_from_examples([index], clip_model, many, tmp_path / "many.gpkg")
    assert summary["classifier"]["method"] == "logistic regression"
    assert summary["refinement"] == [] and "8 or more examples" in summary["refinement_skipped"]
    record = read_metadata(tmp_path / "many.gpkg")
    assert record["parameters"]["refine"]["when"] == "the classifier is class prototypes"
    assert record["refinement_skipped"] == summary["refinement_skipped"]
    off = pipeline.label_from_examples([index], clip_model, many, tmp_path / "off.gpkg",
                                       options=pipeline.LabelOptions(refine=False))
    assert off["refinement_skipped"] == "turned off"


def test_examples_on_one_tile_are_left_out_together(tmp_path, clip_model, spacenet):
    """Two points on one tile are one example for the accuracy of the examples: leave-one-out
    never scores a point against its twin on the same tile."""
    index, _, _ = pipeline.index_raster(spacenet, clip_model, TileSettings(tile_size=128),
                                        tmp_path)
    centres = [np.mean(index.footprint(t), axis=0) for t in range(len(index))]
    tiles, classes = [0, 1, 2, 3, 4, 5], ["a", "b", "a", "b", "a", "b"]
    points = [f"POINT ({centres[t][0] + shift} {centres[t][1]})"
              for t in tiles for shift in (0.0, 5.0)]
    twice = pipeline.ExampleSet(points, [c for c in classes for _ in (0, 1)])
    once = pipeline.ExampleSet(points[::2], classes)
    both = [pipeline.label_from_examples([index], clip_model, examples, tmp_path / f"{n}.gpkg",
                                         class_names_as_text=False)["validation"]
            for n, examples in enumerate((once, twice))]
    assert both[1]["validated"] == both[0]["validated"] == 6
    assert both[1]["accuracy"] == both[0]["accuracy"]


def test_known_tiles_of_the_rasters_labelled():
    """Examples on another raster mark nothing; two classes on one tile mark it unknown."""
    from terralens.plugin.core.pipeline.examples import _known_tiles

    class Index:
        def __len__(self):
            return 5

    labelled, other = Index(), Index()
    places = [(0, np.array([1]), 0), (0, np.array([2, 3]), 1), (1, np.array([0]), 1),
              (0, np.array([3]), 0)]
    known = _known_tiles([labelled], [labelled, other], places)
    np.testing.assert_array_equal(known[0], [-1, 0, 1, -1, -1])
    known = _known_tiles([other], [labelled, other], places)
    np.testing.assert_array_equal(known[0], [1, -1, -1, -1, -1])


def test_bad_examples_fail_with_the_reason_and_write_nothing(tmp_path, clip_model, spacenet):
    index, _, _ = pipeline.index_raster(spacenet, clip_model, TileSettings(tile_size=128),
                                        tmp_path / "cache")
    x, y = np.mean(index.footprint(0), axis=0)
    one_class = pipeline.ExampleSet([f"POINT ({x} {y})", f"POINT ({x + 1} {y})"], ["a", "a"])
    out = tmp_path / "out" / "x.gpkg"
    with pytest.raises(ValueError, match="at least two classes .only 'a' has examples"):
        pipeline.label_from_examples([index], clip_model, one_class, out)
    far = pipeline.ExampleSet(["POINT (0 0)", "POINT (1 1)"], ["a", "b"])
    with pytest.raises(ValueError, match="none of the 2 examples lies on a tile"):
        pipeline.label_from_examples([index], clip_model, far, out)
    with pytest.raises(ValueError, match="no example has a class value"):
        pipeline.label_from_examples([index], clip_model, pipeline.ExampleSet(
            [f"POINT ({x} {y})"], [""]), out)
    with pytest.raises(ValueError, match="no words after '='"):
        pipeline.label_from_examples([index], clip_model, one_class, out, text_labels="a=")
    two = pipeline.ExampleSet(one_class.geometries, ["a", "b"])
    with pytest.raises(Cancelled):
        pipeline.label_from_examples([index], clip_model, two, out,
                                     control=RunControl(is_cancelled=lambda: True))
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_text_labels_and_class_order_parse():
    assert parse_text_labels("forest, 3 = open  water;x") == [
        (None, "forest"), ("3", "open water"), (None, "x")]
    assert parse_text_labels("  ") == []
    assert sorted_classes({"10", "9", "b", "A", "2.5"}) == ["2.5", "9", "10", "A", "b"]


def test_search_and_example_layers_record_how_a_lon_lat_raster_was_read(tmp_path, clip_model,
                                                                        spacenet):
    """The SpaceNet tile warped to EPSG:4326 is read as square ground pixels: the label and
    search layers of its index say so, one entry a raster (the UTM tile: None)."""
    lonlat = str(tmp_path / "atlanta_4326.tif")
    gdal.Warp(lonlat, spacenet, dstSRS="EPSG:4326")
    settings = TileSettings(tile_size=128)
    squared, _, _ = pipeline.index_raster(lonlat, clip_model, settings, tmp_path)
    plain, _, _ = pipeline.index_raster(spacenet, clip_model, settings, tmp_path)
    centres = [np.mean(squared.footprint(t), axis=0) for t in (0, 1, 2, 3)]
    examples = pipeline.ExampleSet([f"POINT ({x} {y})" for x, y in centres],
                                   ["a", "a", "b", "b"], crs_wkt=squared.crs_wkt)
    pipeline.label_from_examples([squared, plain], clip_model, examples, tmp_path / "l.gpkg")
    pipeline.search([squared, plain], clip_model, "houses", k=3, out_path=tmp_path / "s.gpkg")
    for layer in ("l.gpkg", "s.gpkg"):
        records = read_metadata(tmp_path / layer)["square_pixels"]
        assert records[1] is None and records[0]["size_before"][0] == records[0]["size"][0]
        assert records[0]["size"][1] > records[0]["size_before"][1]
