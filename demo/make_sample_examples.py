"""Build demo/data/ucm_mosaic_examples.gpkg: example points for labelling the demo mosaic.

Ten points, two on scenes of each of five land-use classes an analyst might map
(residential, roads, vegetation, water, airport), in WGS 84 (the mosaic is in UTM 16N: the
examples are reprojected), with the class in the field `class`. Also writes
demo/data/ucm_mosaic_example_truth.csv: the class each of the 25 scenes belongs to.
"""

import csv
import sys
from pathlib import Path

from osgeo import ogr, osr

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "demo" / "data"
OUT = DATA / "ucm_mosaic_examples.gpkg"
CORNER, SCENE_M = (741000.0, 3741000.0), 256 * 0.3  # see make_sample_raster.py
CLASSES = {  # UC Merced class -> the analyst's class
    "denseresidential": "residential", "mediumresidential": "residential",
    "sparseresidential": "residential", "mobilehomepark": "residential",
    "freeway": "roads", "overpass": "roads", "intersection": "roads",
    "forest": "vegetation", "chaparral": "vegetation", "golfcourse": "vegetation",
    "agricultural": "vegetation", "river": "water", "beach": "water", "harbor": "water",
    "runway": "airport", "airplane": "airport",
}
EXAMPLE_SCENES = [(1, 0), (3, 1), (2, 0), (2, 4), (2, 1), (3, 3), (2, 3), (0, 3), (0, 0),
                  (2, 2)]  # row, col: two scenes a class


def main():
    with open(DATA / "ucm_mosaic_truth.csv", encoding="utf-8") as handle:
        scenes = {(int(r["row"]), int(r["col"])): r["scene_class"] for r in csv.DictReader(handle)}
    utm, wgs84 = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(32616)
    wgs84.ImportFromEPSG(4326)
    for srs in (utm, wgs84):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_wgs84 = osr.CoordinateTransformation(utm, wgs84)
    OUT.unlink(missing_ok=True)
    dataset = ogr.GetDriverByName("GPKG").CreateDataSource(str(OUT))
    layer = dataset.CreateLayer("examples", wgs84, ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("class", ogr.OFTString))
    for row, col in EXAMPLE_SCENES:
        x, y = CORNER[0] + (col + 0.5) * SCENE_M, CORNER[1] - (row + 0.5) * SCENE_M
        lon, lat, _ = to_wgs84.TransformPoint(x, y)
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({lon} {lat})"))
        feature.SetField("class", CLASSES[scenes[(row, col)]])
        layer.CreateFeature(feature)
    dataset = layer = None
    with open(DATA / "ucm_mosaic_example_truth.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["row", "col", "scene_class", "class", "example"])
        for (row, col), scene in sorted(scenes.items()):
            writer.writerow([row, col, scene, CLASSES.get(scene, ""),
                             int((row, col) in EXAMPLE_SCENES)])
    print(OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
