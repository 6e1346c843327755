"""Search by example (pipeline.search_by_example): examples in any CRS, words, exclusions."""

import numpy as np
import pytest
from gdal_files import features
from osgeo import gdal, ogr, osr

from terralens.plugin.core import pipeline
from terralens.plugin.core.geometry import reproject_geometry, spatial_reference
from terralens.plugin.core.tiled_raster import TileSettings

WGS84 = spatial_reference(osr.SRS_WKT_WGS84_LAT_LONG).ExportToWkt()


@pytest.fixture(scope="module")
def atlanta(spacenet, clip_model, tmp_path_factory):
    """SpaceNet Atlanta indexed in 64 tiles of 128 px (UTM 16N)."""
    index, _, _ = pipeline.index_raster(spacenet, clip_model, TileSettings(tile_size=128),
                                        tmp_path_factory.mktemp("cache"))
    return index


def centre_in_wgs84(index, tile):
    """The centre of a tile as a WKT point in longitude/latitude."""
    xs, ys = zip(*index.footprint(tile))
    point = ogr.CreateGeometryFromWkt(f"POINT ({np.mean(xs)} {np.mean(ys)})")
    return reproject_geometry(point, index.crs_wkt, WGS84).ExportToWkt()


def cosines(index, vector):
    matrix = index.embeddings.astype(np.float32)
    return matrix @ (vector / np.linalg.norm(vector))


def test_one_example_ranks_the_other_tiles_by_likeness(atlanta, clip_model, tmp_path):
    out, heat = tmp_path / "like.gpkg", tmp_path / "heat.tif"
    found = pipeline.search_by_example([atlanta], clip_model, [centre_in_wgs84(atlanta, 27)],
                                       WGS84, k=10, out_path=out, heatmap_path=heat)
    hits = found["hits"]
    assert found["examples"] == 1 and found["outside"] == [] and found["example_tiles"] == 1
    expected = cosines(atlanta, atlanta.embeddings[27].astype(np.float32))
    order = [int(t) for t in np.argsort(-expected) if t != 27][:10]
    assert [h["tile"] for h in hits] == order, "the example tile itself is left out"
    assert [h["score"] for h in hits] == pytest.approx(list(expected[order]), abs=1e-3)
    _, layer, rows = features(out)
    assert [r["rank"] for r in rows] == list(range(1, 11))
    assert rows[0]["query"] == "like 1 example"
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "32616"
    heat_ds = gdal.Open(str(heat))
    values = heat_ds.ReadAsArray()
    assert np.nanmax(values) == pytest.approx(1.0, abs=0.02), "the example is on the heat-map"
    assert heat_ds.GetRasterBand(1).GetDescription() == "score like 1 example"


def test_examples_kept_and_averaged(atlanta, clip_model):
    points = [centre_in_wgs84(atlanta, t) for t in (3, 40)]
    found = pipeline.search_by_example([atlanta], clip_model, points, WGS84, k=64,
                                       keep_examples=True)
    mean = sum(atlanta.embeddings[t].astype(np.float32) /
               np.linalg.norm(atlanta.embeddings[t].astype(np.float32)) for t in (3, 40))
    expected = cosines(atlanta, mean)
    assert [h["tile"] for h in found["hits"]][:5] == list(np.argsort(-expected)[:5])
    assert {3, 40} <= {h["tile"] for h in found["hits"]}
    assert found["hits"][0]["rank"] == 1 and len(found["hits"]) == 64


def test_a_polygon_example_picks_the_tiles_it_covers(atlanta, clip_model):
    corners = [atlanta.footprint(t) for t in (0, 1)]  # two neighbouring tiles of the top row
    xs = [x for ring in corners for x, _ in ring]
    ys = [y for ring in corners for _, y in ring]
    box = (f"POLYGON (({min(xs)} {min(ys)}, {max(xs)} {min(ys)}, {max(xs)} {max(ys)}, "
           f"{min(xs)} {max(ys)}, {min(xs)} {min(ys)}))")
    found = pipeline.search_by_example([atlanta], clip_model, [box], atlanta.crs_wkt, k=5)
    assert found["example_tiles"] == 2
    assert not {0, 1} & {h["tile"] for h in found["hits"]}


def test_examples_in_one_raster_search_another(atlanta, clip_model, ortho, tmp_path):
    drone, _, _ = pipeline.index_raster(ortho, clip_model, TileSettings(tile_size=256),
                                        tmp_path)
    found = pipeline.search_by_example([drone], clip_model, [centre_in_wgs84(atlanta, 9)],
                                       WGS84, k=5, example_indexes=[atlanta])
    expected = cosines(drone, atlanta.embeddings[9].astype(np.float32))
    assert [h["tile"] for h in found["hits"]] == list(np.argsort(-expected)[:5])
    assert {h["index"] for h in found["hits"]} == {0}


def test_words_to_add_and_exclude_move_the_ranking(atlanta, clip_model):
    example = [centre_in_wgs84(atlanta, 27)]
    plain = pipeline.search_by_example([atlanta], clip_model, example, WGS84, k=63)
    text = clip_model.text.encode(["swimming pool"])[0]
    text_rank = cosines(atlanta, text)
    worded = pipeline.search_by_example([atlanta], clip_model, example, WGS84, k=63,
                                        words=["swimming pool"], word_weight=100.0)
    order = [int(t) for t in np.argsort(-text_rank) if t != 27]
    assert [h["tile"] for h in worded["hits"]][:5] == order[:5], "words dominate at weight 100"
    excluded = pipeline.search_by_example([atlanta], clip_model, example, WGS84, k=10,
                                          exclude=["swimming pool"], negative_weight=100.0)
    assert excluded["hits"][0]["tile"] in [int(t) for t in np.argsort(text_rank)[:3]]
    assert [h["tile"] for h in plain["hits"]] != [h["tile"] for h in excluded["hits"]]


def test_examples_outside_every_raster_are_counted_or_refused(atlanta, clip_model):
    inside, far = centre_in_wgs84(atlanta, 5), "POINT (10.0 50.0)"  # Germany
    found = pipeline.search_by_example([atlanta], clip_model, [far, inside], WGS84, k=3)
    assert found["examples"] == 1 and found["outside"] == [0]
    with pytest.raises(ValueError, match="none of the 1 example"):
        pipeline.search_by_example([atlanta], clip_model, [far], WGS84)
    with pytest.raises(ValueError, match="no example given"):
        pipeline.search_by_example([atlanta], clip_model, [], WGS84)
    with pytest.raises(ValueError, match="points or polygons"):
        pipeline.search_by_example([atlanta], clip_model, ["LINESTRING (0 0, 1 1)"],
                                   atlanta.crs_wkt)
