"""Training datasets: captioned images from TSVs, class folders and GeoTIFF tiles with lon/lat."""

import csv
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE_EXTENSIONS = (".webp", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
TSV_COLUMNS = ("split", "image", "scene_class", "caption")
CLASS_CAPTION_TEMPLATE = "a remote sensing image of a {}."
# Wordings of the class caption that training may draw instead of the first one
# (recipe `data.class_caption_templates`). Written before any figure was seen; apart from the
# first, none is among the evaluation's ensemble templates (`training.evaluate`).
CLASS_CAPTION_TEMPLATES = (
    CLASS_CAPTION_TEMPLATE, "an overhead view of a {}.", "a {} seen from above.",
    "an aerial scene showing a {}.", "a picture of a {} taken from the air.",
    "a bird's-eye view of a {}.", "an image of a {} captured by a satellite.",
    "a {} in remote sensing imagery.",
)


class DataError(ValueError):
    """A dataset file is missing or malformed; the message says what to change."""


def default_data_root():
    """The real-data folder: `$TERRALENS_SHARED_DATA`, else `../shared/data` beside the repo."""
    return Path(os.environ.get("TERRALENS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def plain_class_name(name):
    """A scene-class label in plain words: `StorageTanks` / `storage_tanks` -> `storage tanks`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name.replace("_", " ").replace("-", " "))
    return " ".join(spaced.lower().split())


def class_caption(name, template=CLASS_CAPTION_TEMPLATE):
    """The extra caption naming an image's scene class (RESEARCH.md: it helps zero-shot)."""
    return template.format(plain_class_name(name))


def load_rgb(path, size=None):
    """Read an image file as an (H, W, 3) uint8 array, optionally resized to `size` x `size`.

    Non-square images are centre-cropped to a square first, so that nothing is stretched.
    """
    with Image.open(path) as img:
        return resize_square(img.convert("RGB"), size)


def resize_square(img, size=None):
    """Centre-crop a PIL image to a square and resize it; return an (H, W, 3) uint8 array."""
    width, height = img.size
    if width != height:
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        img = img.crop((left, top, left + side, top + side))
    if size is not None and img.size != (size, size):
        img = img.resize((size, size), Image.BICUBIC)
    return np.asarray(img, dtype=np.uint8)


@dataclass(frozen=True)
class CaptionedImage:
    """One image with every caption written for it (repeats kept: they weight the sampling)."""

    path: Path
    name: str
    scene_class: str
    captions: Tuple[str, ...] = field(default=())


def read_caption_tsv(tsv, image_root=None, split="train"):
    """Read a `split image scene_class caption` TSV and group its rows by image.

    Args:
        tsv: the TSV file; the `image` column is a path relative to `image_root`.
        image_root: folder the image paths are relative to (default: the TSV's folder).
        split: keep only rows of this split (`None` keeps all).

    Returns:
        A list of `CaptionedImage`, in the order images first appear in the file.
    """
    tsv = Path(tsv)
    if not tsv.is_file():
        raise DataError(f"caption table {tsv} not found; pass the path of a TSV with columns "
                        f"{' '.join(TSV_COLUMNS)}")
    root = Path(image_root) if image_root is not None else tsv.parent
    grouped = OrderedDict()
    with open(tsv, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = [c for c in TSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{tsv} lacks the column(s) {missing}; its header must be "
                            f"{' '.join(TSV_COLUMNS)} (tab-separated)")
        for row in reader:
            if split is not None and row["split"] != split:
                continue
            key = row["image"]
            if key not in grouped:
                grouped[key] = (row["scene_class"], [])
            grouped[key][1].append(row["caption"].strip())
    if not grouped:
        raise DataError(f"{tsv} has no rows of split {split!r}")
    items = [CaptionedImage(root / name, name, cls, tuple(caps))
             for name, (cls, caps) in grouped.items()]
    _check_paths_exist([item.path for item in items], f"images named in {tsv} under {root}")
    return items


def _check_paths_exist(paths, what):
    """Raise a clear error naming how many and which files are missing."""
    absent = [p for p in paths if not Path(p).is_file()]
    if absent:
        raise DataError(f"{len(absent)} of {len(paths)} {what} are missing, e.g. {absent[0]}; "
                        "check the image root")


class CaptionDataset:
    """Captioned images, one item an image: `{"image", "captions", "scene_class", "name"}`.

    Args:
        tsv: a `split image scene_class caption` TSV.
        image_root: folder the TSV's image paths are relative to (default: the TSV's folder).
        split: the split to keep (`train`, `test`, or `None` for all).
        size: resize images to `size` x `size` when loading (default: keep their size).
    """

    def __init__(self, tsv, image_root=None, split="train", size=None):
        self.items = read_caption_tsv(tsv, image_root, split)
        self.size = size

    @classmethod
    def rsicd_aid(cls, split="train", data_root=None, size=None):
        """RSICD captions on the AID images (`captions_rsicd_aid.tsv`, images `aid/images/`)."""
        root = Path(data_root) if data_root is not None else default_data_root()
        return cls(root / "captions_rsicd_aid.tsv", root, split, size)

    @classmethod
    def ucm(cls, split="train", data_root=None, size=None):
        """UCM-Captions (`captions_ucm.tsv`, images `ucm/images/<class>/`); evaluation only."""
        root = Path(data_root) if data_root is not None else default_data_root()
        return cls(root / "captions_ucm.tsv", root, split, size)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        item = self.items[index]
        return {"image": load_rgb(item.path, self.size), "captions": list(item.captions),
                "scene_class": item.scene_class, "name": item.name}


class ImageFolderDataset:
    """Images in one subfolder a class: items `{"image", "scene_class", "name"}`.

    Args:
        root: folder holding one subfolder per class.
        size: resize images to `size` x `size` when loading.
    """

    def __init__(self, root, size=None):
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"image folder {root} not found")
        self.classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        self.items = [(path, cls) for cls in self.classes
                      for path in sorted((root / cls).iterdir())
                      if path.suffix.lower() in IMAGE_EXTENSIONS]
        if not self.items:
            raise DataError(f"{root} holds no images in class subfolders "
                            f"(expected {root}/<class>/<image>{IMAGE_EXTENSIONS[0]})")
        self.root, self.size = root, size

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        path, cls = self.items[index]
        return {"image": load_rgb(path, self.size), "scene_class": cls,
                "name": str(path.relative_to(self.root))}


@dataclass(frozen=True)
class GeoTile:
    """Where one tile lies: its raster, pixel window and centre in WGS 84 degrees."""

    path: Path
    col: int
    row: int
    size: int
    lon: float
    lat: float


class GeoTiffTileDataset:
    """Square tiles cut from GeoTIFFs, with the lon/lat of each tile's centre.

    Items are `{"image" (size, size, 3) uint8, "lon", "lat", "name"}`. The chosen bands are
    scaled to 0-255 by `value / scale * 255` (Sentinel-2 L2A reflectance: scale 3000).

    Args:
        paths: GeoTIFF files, or one `index.csv` whose `fn` column names them.
        tile_size: tile side in pixels (default: the whole raster, its shorter side).
        stride: step between tiles (default: `tile_size`, no overlap).
        bands: 1-based band numbers read as R, G, B (Sentinel-2 12-band: 4, 3, 2).
        scale: raster value that maps to 255.
    """

    def __init__(self, paths, tile_size=None, stride=None, bands=(4, 3, 2), scale=3000.0):
        self.paths = _geotiff_paths(paths)
        self.bands, self.scale = tuple(bands), float(scale)
        self.tiles: List[GeoTile] = []
        for path in self.paths:
            self.tiles.extend(_cut_tiles(path, tile_size, stride))

    def __len__(self):
        return len(self.tiles)

    def __getitem__(self, index):
        import rasterio
        from rasterio.windows import Window

        tile = self.tiles[index]
        with rasterio.open(tile.path) as src:
            if max(self.bands) > src.count:
                raise DataError(f"{tile.path} has {src.count} bands; bands {self.bands} "
                                "were asked for")
            data = src.read(self.bands, window=Window(tile.col, tile.row, tile.size, tile.size))
        scaled = np.clip(data.astype(np.float32) / self.scale * 255.0, 0, 255)
        image = np.ascontiguousarray(scaled.round().astype(np.uint8).transpose(1, 2, 0))
        return {"image": image, "lon": tile.lon, "lat": tile.lat,
                "name": f"{tile.path.name}:{tile.col},{tile.row}"}


def _geotiff_paths(paths):
    """Expand an `index.csv` (column `fn`) or a list of files into GeoTIFF paths."""
    if isinstance(paths, (str, Path)) and Path(paths).suffix.lower() == ".csv":
        index = Path(paths)
        with open(index, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        if not rows or "fn" not in rows[0]:
            raise DataError(f"{index} needs a column `fn` naming the GeoTIFF files")
        paths = [index.parent / row["fn"] for row in rows]
    elif isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    _check_paths_exist(paths, "GeoTIFF files")
    return paths


def _cut_tiles(path, tile_size: Optional[int], stride: Optional[int]) -> Sequence[GeoTile]:
    """Tile one raster on a regular grid (only whole tiles) and locate each tile's centre."""
    import rasterio
    from rasterio.warp import transform as warp_transform

    with rasterio.open(path) as src:
        if src.crs is None:
            raise DataError(f"{path} has no CRS, so its tiles cannot be located")
        size = tile_size or min(src.width, src.height)
        step = stride or size
        cells = [(col, row) for row in range(0, src.height - size + 1, step)
                 for col in range(0, src.width - size + 1, step)]
        if not cells:
            return []
        xs, ys = zip(*(src.transform @ (col + size / 2, row + size / 2) for col, row in cells))
        lons, lats = warp_transform(src.crs, "EPSG:4326", list(xs), list(ys))
    return [GeoTile(Path(path), col, row, size, float(lon), float(lat))
            for (col, row), lon, lat in zip(cells, lons, lats)]
