"""Georeferenced mosaics of real scenes at 2, 5, 10 and 30 m a pixel, with a truth table a cell.

The scale benchmark (`tools/scale_bench.py`) labels them. Each mosaic is 15 x 7 (or 15 x 8)
cells of 120 x 120 pixels in UTM 16N (EPSG:32616); a cell is one class. 120 pixels is the side
of a homogeneous area in the scene datasets of the field (EuroSAT 64 px, BigEarthNet 120 px,
UC Merced 256 px, AID 600 px), so a cell covers 240 m at 2 m, 600 m at 5 m, 1.2 km at 10 m and
3.6 km at 30 m; it is no multiple of any tile size the benchmark tries, so no scale gets tiles
that line up with the cells.

A cell is filled with real scenes of its class at their true ground size: scene after scene of
that class (different images, each turned or mirrored at random, reused only when the class has
too few) on a grid, each scene area-averaged from its own pixels to the ground it covers at
the mosaic's resolution. A UC Merced scene (256 px at 0.3 m, 77 m) is 38 px at 2 m and 2.6 px
at 30 m, so at coarse resolutions a cell is a patchwork of many scenes of its class, much as a
town or a forest looks from a satellite; classes that are objects (a tennis court, an
airplane) cannot be seen at 10-30 m whatever the tiling, and the figures say so.

Sources never trained on: UC Merced (21 classes, 0.3 m) and RSSCN7 (7 classes; Google Earth at
four map scales, 100 images each in file order, stored here at 256 px instead of 400: about
0.4, 0.74, 1.49 and 2.97 m a stored pixel, see `training/data/scales.py`; uncertain by about a
third). A scene is only ever shrunk: at 2 m RSSCN7's coarsest level is left out. The
validation mosaics (`aid-val`, used to choose the scale rule, never reported as the benchmark)
use the RSICD test-split AID images (150 px stored from 600 px at 0.5-8 m; taken as 8 m a
stored pixel, the geometric middle of AID's range).

Everything is seeded: the same data give the same mosaics byte for byte.

    .venv/bin/python tools/scale_mosaics.py [--out .cache/scale-bench] [--sets ucm,rsscn7]
"""

import argparse
import csv
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import gdal, osr

from training.data.scales import (
    AID_STORED_GSD_M,
    AID_STORED_PX,
    DATASET_SCALES,
    RSSCN7_LEVEL_GSD_M,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / ".cache" / "scale-bench" / "v1"  # a new version when the mosaics change
RESOLUTIONS_M = (2, 5, 10, 30)
VALIDATION_RESOLUTIONS_M = (10, 30)
CELL_PX = 120
COLUMNS = 15
EPSG = 32616
ORIGIN = (741000.0, 3741000.0)
# The composite is built at a finer resolution so that each scene spans at least this many
# pixels before the cell is area-averaged to its size (rounding a scene to whole pixels then
# changes its ground size by a few per cent at most).
MIN_SCENE_SPAN = 16
RSSCN7_STORED_PX = 256
# Plain-word names of the classes, as the evaluator's zero-shot protocol words them.
UCM_NAMES = {
    "baseballdiamond": "baseball diamond", "denseresidential": "dense residential",
    "golfcourse": "golf course", "mediumresidential": "medium residential",
    "mobilehomepark": "mobile home park", "parkinglot": "parking lot",
    "sparseresidential": "sparse residential", "storagetanks": "storage tanks",
    "tenniscourt": "tennis court",
}


@dataclass(frozen=True)
class Scene:
    """A source image: its class, file, ground metres a pixel, side in pixels, pool key."""

    label: str
    path: str
    gsd_m: float
    side: int
    pool: str


@dataclass(frozen=True)
class SceneSet:
    """The scenes of a mosaic set, how many cells a class gets, the resolutions it is built at."""

    name: str
    scenes: tuple
    cells_per_class: int
    resolutions: tuple
    note: str


def plain(name):
    """A class folder name in plain words (`river_lake` -> `river lake`, AID `BareLand` ->
    `bare land`)."""
    spaced = "".join(" " + c.lower() if c.isupper() and i else c.lower()
                     for i, c in enumerate(name))
    return UCM_NAMES.get(name, spaced.replace("_", " ").strip())


def ucm_scenes(data):
    folder = data / "ucm" / "images"
    gsd = DATASET_SCALES["ucm"].gsd_m[0]
    return tuple(Scene(plain(c.name), str(p), gsd, 256, c.name)
                 for c in sorted(folder.iterdir()) for p in sorted(c.glob("*.webp")))


def rsscn7_scenes(data):
    """RSSCN7 with the estimated ground sample distance of each of its four levels."""
    scenes = []
    for folder in sorted((data / "rsscn7").iterdir()):
        for path in sorted(folder.glob("*.webp")):
            level = (int(path.stem[1:]) - 1) // 100
            gsd = RSSCN7_LEVEL_GSD_M[level] * DATASET_SCALES["rsscn7"].side_px / RSSCN7_STORED_PX
            scenes.append(Scene(plain(folder.name), str(path), gsd, RSSCN7_STORED_PX,
                                f"{folder.name}/{level + 1}"))
    return tuple(scenes)


def aid_test_scenes(data):
    """The AID images of the RSICD test split (never trained on), by scene class."""
    seen, scenes = set(), []
    with open(data / "captions_rsicd_aid.tsv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["split"] == "test" and row["image"] not in seen:
                seen.add(row["image"])
                scenes.append(Scene(plain(row["scene_class"]), str(data / row["image"]),
                                    AID_STORED_GSD_M, AID_STORED_PX, row["scene_class"]))
    return tuple(sorted(scenes, key=lambda s: (s.label, s.path)))


def scene_sets(data=SHARED):
    """The benchmark sets (reported) and the validation set (for choosing the rule only)."""
    return {
        "ucm": SceneSet("ucm", ucm_scenes(data), 5, RESOLUTIONS_M,
                        "UC Merced, 21 classes x 5 cells"),
        "rsscn7": SceneSet("rsscn7", rsscn7_scenes(data), 15, RESOLUTIONS_M,
                           "RSSCN7, 7 classes x 15 cells"),
        "aid-val": SceneSet("aid-val", aid_test_scenes(data), 4, VALIDATION_RESOLUTIONS_M,
                            "AID RSICD-test images, 30 classes x 4 cells (validation)"),
    }


class SceneReader:
    """Scenes area-averaged to a size in pixels, each file decoded once per size."""

    def __init__(self):
        self._cache = {}

    def read(self, scene, width, height):
        """(3, height, width) float32 of the scene's RGB."""
        key = (scene.path, width, height)
        if key not in self._cache:
            dataset = gdal.Open(scene.path)
            if dataset is None:
                raise FileNotFoundError(f"cannot read {scene.path}")
            data = dataset.ReadAsArray(buf_xsize=width, buf_ysize=height,
                                       resample_alg=gdal.GRIORA_Average)
            self._cache[key] = np.asarray(data[:3], np.float32)
        return self._cache[key]


class Pools:
    """Per pool (class, or class and level) a seeded endless stream of (scene, turn)."""

    def __init__(self, scenes, rng):
        self.rng = rng
        self.pools = {}
        for scene in scenes:
            self.pools.setdefault(scene.pool, []).append(scene)
        self._queues = {key: [] for key in self.pools}

    def draw(self, pool):
        queue = self._queues[pool]
        if not queue:  # every scene once, in a new random order, before any is used again
            order = self.rng.permutation(len(self.pools[pool]))
            queue.extend(self.pools[pool][i] for i in order)
        return queue.pop(), int(self.rng.integers(8))


def turned(pixels, turn):
    """One of the 8 rotations and mirror images of a (C, H, W) array."""
    pixels = np.rot90(pixels, turn % 4, axes=(1, 2))
    return pixels[:, :, ::-1] if turn >= 4 else pixels


def build_cell(pools, reader, pool, gsd_m, side_px, resolution_m):
    """A (3, CELL_PX, CELL_PX) uint8 cell of scenes from `pool` at `resolution_m` a pixel."""
    span = side_px * gsd_m / resolution_m  # a scene's side at the mosaic's resolution
    factor = max(1, math.ceil(MIN_SCENE_SPAN / span))
    size = CELL_PX * factor
    count = math.ceil(size / (span * factor))
    edges = [int(round(i * span * factor)) for i in range(count + 1)]
    canvas = np.zeros((3, size, size), np.float32)
    for y0, y1 in zip(edges, edges[1:]):
        for x0, x1 in zip(edges, edges[1:]):
            scene, turn = pools.draw(pool)
            width, height = (x1 - x0, y1 - y0) if turn % 2 == 0 else (y1 - y0, x1 - x0)
            tile = turned(reader.read(scene, width, height), turn)
            h, w = min(y1, size) - y0, min(x1, size) - x0
            canvas[:, y0:y0 + h, x0:x0 + w] = tile[:, :h, :w]
    cell = canvas.reshape(3, CELL_PX, factor, CELL_PX, factor).mean(axis=(2, 4))
    return np.clip(np.round(cell), 0, 255).astype(np.uint8)


def cell_pool(scene_set, label, resolution_m, rng):
    """The pool a cell of `label` draws from: the class, or for RSSCN7 one of its levels fine
    enough for `resolution_m` (a scene is only ever shrunk), chosen at random."""
    pools = sorted({s.pool for s in scene_set.scenes
                    if s.label == label and s.gsd_m <= resolution_m})
    if not pools:
        raise ValueError(f"{scene_set.name}: no {label} scene is fine enough for "
                         f"{resolution_m} m")
    return pools[int(rng.integers(len(pools)))]


def cell_labels(scene_set, rng):
    """The class of each cell: every class `cells_per_class` times, in a seeded order."""
    labels = sorted({s.label for s in scene_set.scenes})
    cells = [label for label in labels for _ in range(scene_set.cells_per_class)]
    return [cells[i] for i in rng.permutation(len(cells))]


def build_mosaic(scene_set, resolution_m, out_dir, reader=None):
    """Write `<set>_<r>m.tif` and `<set>_<r>m_truth.csv` into `out_dir`; return the tif path."""
    rng = np.random.default_rng([sum(map(ord, scene_set.name)), int(resolution_m * 10)])
    reader = reader or SceneReader()
    labels = cell_labels(scene_set, rng)
    rows = math.ceil(len(labels) / COLUMNS)
    pools = Pools(scene_set.scenes, rng)
    mosaic = np.zeros((3, rows * CELL_PX, COLUMNS * CELL_PX), np.uint8)
    truth = []
    for number, label in enumerate(labels):
        row, col = divmod(number, COLUMNS)
        pool = cell_pool(scene_set, label, resolution_m, rng)
        first = pools.pools[pool][0]
        y, x = row * CELL_PX, col * CELL_PX
        mosaic[:, y:y + CELL_PX, x:x + CELL_PX] = build_cell(
            pools, reader, pool, first.gsd_m, first.side, resolution_m)
        minx, maxy = ORIGIN[0] + x * resolution_m, ORIGIN[1] - y * resolution_m
        side = CELL_PX * resolution_m
        truth.append({"row": row, "col": col, "label": label, "pool": pool,
                      "scene_gsd_m": first.gsd_m, "minx": minx, "miny": maxy - side,
                      "maxx": minx + side, "maxy": maxy})
    path = Path(out_dir) / f"{scene_set.name}_{resolution_m:g}m.tif"
    write_mosaic(path, mosaic, resolution_m, len(labels))
    write_truth(path.with_name(path.stem + "_truth.csv"), truth)
    return path


def write_mosaic(path, mosaic, resolution_m, cells):
    """A tiled RGB GeoTIFF in UTM 16N; cells beyond the last are nodata (0)."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    bands, height, width = mosaic.shape
    memory = gdal.GetDriverByName("MEM").Create("", width, height, bands, gdal.GDT_Byte)
    memory.SetGeoTransform((ORIGIN[0], resolution_m, 0, ORIGIN[1], 0, -resolution_m))
    memory.SetProjection(srs.ExportToWkt())
    for band in range(bands):
        memory.GetRasterBand(band + 1).WriteArray(mosaic[band])
        memory.GetRasterBand(band + 1).SetColorInterpretation(gdal.GCI_RedBand + band)
    if cells % COLUMNS:
        for band in range(bands):
            memory.GetRasterBand(band + 1).SetNoDataValue(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.tif")
    gdal.GetDriverByName("GTiff").CreateCopy(str(tmp), memory,
                                             options=["COMPRESS=DEFLATE", "TILED=YES"])
    tmp.replace(path)


def write_truth(path, truth):
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(truth[0]))
        writer.writeheader()
        writer.writerows(truth)
    tmp.replace(path)


def read_truth(path):
    """The truth table of a mosaic: one dict a cell (label and bounds as floats)."""
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key in ("minx", "miny", "maxx", "maxy", "scene_gsd_m"):
            row[key] = float(row[key])
    return rows


def ensure_mosaics(names, out_dir=OUT, data=SHARED):
    """Build the mosaics of the named sets that are missing; return {(set, r): tif path}."""
    sets = scene_sets(data)
    paths = {}
    for name in names:
        scene_set, reader = sets[name], SceneReader()
        for resolution in scene_set.resolutions:
            path = Path(out_dir) / f"{name}_{resolution:g}m.tif"
            if not path.is_file() or not path.with_name(path.stem + "_truth.csv").is_file():
                print(f"building {path}", file=sys.stderr, flush=True)
                build_mosaic(scene_set, resolution, out_dir, reader)
            paths[(name, resolution)] = path
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--sets", default="ucm,rsscn7")
    args = parser.parse_args(argv)
    for path in ensure_mosaics(args.sets.split(","), args.out).values():
        print(path)


if __name__ == "__main__":
    main()
