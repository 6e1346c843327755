"""The cases of the bad-input matrix: input, algorithm, parameters and the expected ending."""

from dataclasses import dataclass

from terralens.plugin.core.outputs import VECTOR_DRIVERS

OUTPUT = "output"
ALGORITHMS = ("zeroshotlabel", "buildindex", "textsearch", "promptmask")
# Parameters of a plain run of each algorithm; "{out}" is the case's own output folder.
BASE = {
    "zeroshotlabel": {"LABELS": "forest,water,buildings", "OUTPUT": "{out}/labels.gpkg"},
    "buildindex": {"CACHE_DIR": "{out}/cache"},
    "textsearch": {"QUERY": "houses beside a road", "K": "5", "CACHE_DIR": "{out}/cache",
                   "OUTPUT": "{out}/hits.gpkg"},
    "promptmask": {"PROMPT": "building", "THRESHOLD": "0", "OUTPUT": "{out}/mask.gpkg"},
}
# what the provider offers in the toolbox (tests/qgis checks that it lists these)
VECTOR_EXTENSIONS = [suffix[1:] for suffix in VECTOR_DRIVERS]
LONG_TEXT = ("houses with red roofs beside a tree lined road " * 110)[:5000]


@dataclass(frozen=True)
class Case:
    """One qgis_process run and how it must end.

    `expect` is OUTPUT or a piece of the one error message expected; `tiles` the exact number of
    features (tiles indexed for buildindex) when known, else at least one is required; `params`
    override the base parameters (a value of None drops one); `model` is "tiny", "default" or
    "bundle:<name>"; `check` and `prepare` name extra steps of the test module.
    """

    name: str
    algorithm: str
    raster: str = "type_UInt16"
    params: tuple = ()
    expect: str = OUTPUT
    tiles: int = None
    model: str = "tiny"
    check: str = ""
    prepare: str = ""
    note: str = ""
    fixed: str = ""  # what the matrix found wrong here, and was fixed

    @property
    def id(self):
        suffix = ", default model" if self.model == "default" else ""
        return f"{self.name}/{self.algorithm}{suffix}"


def on_all(name, raster=None, **kwargs):
    """The same input case on the four algorithms."""
    return [Case(name, algorithm, raster=raster or name, **kwargs) for algorithm in ALGORITHMS]


NODATA_NOTE = "empty layer (or index) with the raster's CRS and a warning, not an error"
RASTER_CASES = [
    *on_all("bands1", tiles=4, note="the band is repeated to red, green, blue"),
    *on_all("bands2", expect="choose a band mapping",
            note="two bands do not make RGB: the message proposes a mapping"),
    *on_all("bands4", tiles=4, note="bands 1, 2, 3 (RGBN)"),
    *on_all("bands5", tiles=4, note="bands 1, 2, 3"),
    *on_all("bands13", tiles=4, note="no Sentinel-2 encoder in the tiny model: bands 1, 2, 3"),
    Case("bands13", "zeroshotlabel", raster="bands13", model="default", check="encoder_s2",
         note="default model: its Sentinel-2 encoder (L1C order, B10 left out), 10 m tiles",
         fixed="the one tile, larger than the raster, had a footprint 5 times as wide: "
               "footprints are now cut to the raster"),
    *[case for type_name in ("Byte", "UInt16", "Int16", "Float32", "Float64")
      for case in on_all(f"type_{type_name}", tiles=4)],
    *[case for type_name in ("CInt16", "CFloat32")
      for case in on_all(f"type_{type_name}", tiles=4, check="amplitude",
                         note="complex (SAR) data: the amplitude |z| is read, and averaged "
                              "after |z| when tiles shrink",
                         fixed="GDAL read the real part")],
    *on_all("constant", tiles=0, check="warns_flat",
            note="one value everywhere: every tile is skipped like nodata, an empty result and "
                 "a warning that says why",
            fixed="every tile was labelled, indexed and masked as if it held an image (the "
                  "default model masked 85 % of a grey raster as `building`)"),
    *on_all("all_nodata", tiles=0, check="warns_empty", note=NODATA_NOTE,
            fixed="buildindex and textsearch failed with 'cannot reshape array of size 0'; "
                  "promptmask at threshold 0 outlined the whole nodata raster; no warning"),
    *on_all("nan_untagged", tiles=2, note="NaN counts as nodata without a nodata tag"),
    *on_all("epsg4326", tiles=4),
    Case("epsg4326", "zeroshotlabel", raster="epsg4326", model="default",
         note="default model: automatic scale from degrees (1.9 m pixels, read at 1.28 m)"),
    *on_all("polar", tiles=4, note="EPSG:3413"),
    *on_all("feet", tiles=4, note="EPSG:2263, US feet"),
    *on_all("no_crs", tiles=4, check="pixel_coordinates",
            note="no CRS, no geotransform: outputs in QGIS's pixel coordinates (y = -row), "
                 "without a CRS (a GeoPackage says 'Undefined geographic SRS')",
            fixed="outputs were at y = +row, off the raster as QGIS shows it"),
    Case("no_crs", "zeroshotlabel", raster="no_crs", model="default",
         check="pixel_coordinates", note="default model: map units taken as metres"),
    *on_all("rotated", tiles=4, check="rotated",
            note="footprints follow the rotated pixel grid"),
    *on_all("size_1x1", expect="too small",
            note="a raster needs at least 8 pixels and 1/8 of a tile a side",
            fixed="ran: one tile of 1 pixel and 4095 of padding, footprint 64 x 64 pixels"),
    *on_all("size_3x5000", expect="too small",
            fixed="ran: 79 tiles of 3 columns of image and 61 of padding"),
    *on_all("vrt_40000", params=(("EXTENT", "540000,540256,4060000,4060192 [EPSG:32633]"),),
            tiles=4, check="fast",
            note="the extent's pixels are worked on as a raster of their own (at least a tile "
                 "a side): nothing else is read, the stretch is measured there",
            fixed="the grid of all 390,625 tiles was made and filtered (3 s a run), the "
                  "stretch sampled the whole raster, and prompt masks covered the whole raster "
                  "(10-pixel cells on the old method, a 4096-pixel guide read on the dense one)"),
]

MODEL_CASES = [
    Case(f"bundle_{name}", algorithm, model=f"bundle:{name}", expect=message)
    for name, message in (("empty", "no bundle.json"), ("truncated", "corrupt"),
                          ("future", "schema_version 99"))
    for algorithm in ("zeroshotlabel", "textsearch")]

TEXT_CASES = [
    Case("labels_empty", "zeroshotlabel", params=(("LABELS", ""),), expect="Type labels"),
    Case("labels_separators_only", "zeroshotlabel", params=(("LABELS", " ; ,\n "),),
         expect="no labels given"),
    Case("labels_one", "zeroshotlabel", params=(("LABELS", "forest"),), tiles=4,
         check="one_label", note="every tile gets the label with score 1, and a warning says so",
         fixed="no warning"),
    Case("labels_2000", "zeroshotlabel", tiles=4, prepare="labels_file", check="class_raster",
         params=(("LABELS", None), ("LABELS_FILE", "{out}/labels.txt"),
                 ("CLASS_RASTER", "{out}/classes.tif")),
         note="class raster stored as UInt16 beyond 255 labels",
         fixed="class numbers wrapped at 255 (Byte), and 2,000 grids of up to 1024 x 1024 "
               "cells (16 GB for a large raster) were allocated: now at most 2^24 cells together"),
    Case("labels_quotes_emoji", "zeroshotlabel", model="default", check="special_labels",
         params=(("LABELS", '"forest, dense"; water 🌊, car\'s "roof",'),),
         note="separators: comma, semicolon, new line; double quotes group a label",
         fixed="quotes stayed in the label and a quoted comma split it"),
    Case("prompt_5000", "promptmask", params=(("PROMPT", LONG_TEXT),), check="long_text"),
    Case("query_5000", "textsearch", params=(("QUERY", LONG_TEXT),), tiles=4, check="long_text"),
]

PARAMETER_CASES = [
    Case("tile_negative", "zeroshotlabel", params=(("TILE_SIZE", "-64"),),
         expect="Incorrect parameter value for TILE_SIZE"),
    Case("tile_4", "zeroshotlabel", params=(("TILE_SIZE", "4"),), expect="at least 8"),
    Case("tile_4096", "zeroshotlabel", params=(("TILE_SIZE", "4096"),), expect="too small",
         fixed="ran: one tile with the raster in 2 of its 64 pixels"),
    Case("tile_100000", "zeroshotlabel", params=(("TILE_SIZE", "100000"),),
         expect="Incorrect parameter value for TILE_SIZE"),
    Case("gsd_negative", "zeroshotlabel", params=(("GSD", "-5"),),
         expect="Incorrect parameter value for GSD"),
    *[Case("gsd_huge", algorithm, params=(("GSD", "1000000"),), expect="too small",
           fixed="ran: tiles of 32,000,000 pixels") for algorithm in ("zeroshotlabel",
                                                                     "promptmask")],
    Case("overlap_100", "zeroshotlabel", params=(("OVERLAP", "100"),),
         expect="Incorrect parameter value for OVERLAP"),
    Case("overlap_90", "zeroshotlabel", params=(("OVERLAP", "90"),), tiles=84),
    Case("overlap_90", "promptmask", params=(("OVERLAP", "90"),)),
    Case("bands_7_of_3", "zeroshotlabel", params=(("BANDS", "7"),), expect="names band 7"),
    Case("bands_7_of_3", "buildindex", params=(("BANDS", "7"),), expect="names band 7"),
]

OUTPUT_CASES = [
    Case("out_read_only", "zeroshotlabel", prepare="read_only",
         params=(("OUTPUT", "{out}/read-only/labels.gpkg"),), expect="cannot create"),
    Case("out_read_only", "promptmask", prepare="read_only",
         params=(("PROBABILITY", "{out}/read-only/probability.tif"),), expect="cannot create",
         note="outputs are all or nothing", fixed="the mask layer was left behind"),
    Case("out_read_only", "textsearch", prepare="read_only",
         params=(("HEATMAP", "{out}/read-only/heat.tif"),), expect="cannot create",
         note="outputs are all or nothing", fixed="the results layer was left behind"),
    Case("out_existing", "zeroshotlabel", prepare="existing", tiles=4,
         note="replaced whole (rename over it), no layer of the old file left"),
    Case("out_existing_shp", "zeroshotlabel", prepare="existing", tiles=4,
         params=(("OUTPUT", "{out}/labels.shp"),)),
    *[Case(f"out_{ext}", "zeroshotlabel", tiles=4, params=(("OUTPUT", f"{{out}}/labels.{ext}"),),
           note="" if ext == "gpkg" else "no layer metadata in this format: no provenance record")
      for ext in VECTOR_EXTENSIONS],
    Case("out_kml", "zeroshotlabel", params=(("OUTPUT", "{out}/labels.kml"),),
         expect="use one of", note="the toolbox offers only the formats TerraLens writes "
                                      "(gpkg, shp, geojson, json, fgb, sqlite); others are "
                                      "refused",
         fixed="the toolbox offered every OGR format (KML, CSV, DXF ...), which then failed"),
    Case("out_tif", "textsearch", tiles=4, check="raster_output",
         params=(("HEATMAP", "{out}/heat.tif"),)),
    Case("out_tif", "promptmask", check="raster_output",
         params=(("PROBABILITY", "{out}/probability.tif"),)),
    Case("out_img", "zeroshotlabel", params=(("CLASS_RASTER", "{out}/classes.img"),),
         expect="GeoTIFF", note="raster outputs are GeoTIFFs; the toolbox offers only .tif",
         fixed="a GeoTIFF was written under the name classes.img"),
]

AREA_CASES = [
    *[Case("extent_outside", algorithm, params=(("EXTENT", "0,100,0,100 [EPSG:32633]"),),
           expect="no tile of the raster lies in the chosen extent")
      for algorithm in ("zeroshotlabel", "buildindex")],
    Case("mask_empty", "zeroshotlabel", params=(("MASK", "{mask:empty}"),),
         expect="the mask layer has no polygon"),
    *[Case("mask_other_crs", algorithm, params=(("MASK", "{mask:wgs84}"),), tiles=1)
      for algorithm in ("zeroshotlabel", "textsearch", "promptmask")],
]

CASES = RASTER_CASES + MODEL_CASES + TEXT_CASES + PARAMETER_CASES + OUTPUT_CASES + AREA_CASES
# Cases run by their own tests (several runs in order), recorded in the same table.
SEQUENTIAL_CASES = ["index_concurrent/buildindex x2", "index_concurrent/textsearch",
                    "index_truncated/textsearch"]
