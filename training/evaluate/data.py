"""Evaluation data: class names in plain words, image folders, caption tables, image reading."""

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_ROOT = Path(os.environ.get("TERRALENS_SHARED_DATA",
                                        REPO_ROOT.parent / "shared" / "data"))
IMAGE_SUFFIXES = (".webp", ".tif", ".tiff", ".png", ".jpg", ".jpeg")
CAPTION_COLUMNS = ("split", "image", "scene_class", "caption")

# Folder names -> the class in plain words (reviewed by hand; only spaces are added, no
# synonyms, so that figures stay comparable with published single-template ones).
UCM_CLASSES = {
    "agricultural": "agricultural", "airplane": "airplane",
    "baseballdiamond": "baseball diamond", "beach": "beach", "buildings": "buildings",
    "chaparral": "chaparral", "denseresidential": "dense residential", "forest": "forest",
    "freeway": "freeway", "golfcourse": "golf course", "harbor": "harbor",
    "intersection": "intersection", "mediumresidential": "medium residential",
    "mobilehomepark": "mobile home park", "overpass": "overpass", "parkinglot": "parking lot",
    "river": "river", "runway": "runway", "sparseresidential": "sparse residential",
    "storagetanks": "storage tanks", "tenniscourt": "tennis court",
}
RSSCN7_CLASSES = {
    "field": "field", "forest": "forest", "grass": "grass", "industry": "industry",
    "parking": "parking", "residential": "residential", "river_lake": "river lake",
}
PLAIN_CLASS_NAMES = {**UCM_CLASSES, **RSSCN7_CLASSES}


def class_phrase(name):
    """A class folder name in plain words: the reviewed table, else split `_`, `-`, camelCase."""
    if name in PLAIN_CLASS_NAMES:
        return PLAIN_CLASS_NAMES[name]
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name.replace("_", " ").replace("-", " "))
    return " ".join(words.lower().split())


@dataclass
class ImageFolder:
    """Images of a classification set: `paths[i]` shows class `class_names[labels[i]]`."""

    paths: list
    labels: np.ndarray
    class_names: list


def list_image_folder(folder, limit=None):
    """Images of `folder/<class>/*`, sorted by "<class>/<file>"; the first `limit` a class."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} not found: pass --data with the folder "
                                "that holds ucm/, rsscn7/ and aid/")
    class_names = sorted(p.name for p in folder.iterdir() if p.is_dir())
    paths, labels = [], []
    for number, name in enumerate(class_names):
        files = sorted(p for p in (folder / name).iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES)
        files = files[:limit] if limit else files
        paths += files
        labels += [number] * len(files)
    if not paths:
        raise FileNotFoundError(f"no images in the class folders of {folder}")
    return ImageFolder(paths, np.asarray(labels, np.int64), class_names)


@dataclass
class CaptionSet:
    """Captions and their images: caption j describes `image_paths[caption_image[j]]`."""

    image_paths: list
    captions: list
    caption_image: np.ndarray


def read_captions(tsv, data_root, split=None, limit=None):
    """Rows of a caption table (`split image scene_class caption`), images sorted by path.

    Args:
        tsv: the table; its `image` column is a path relative to `data_root`.
        split: keep only rows of this split (None: all rows).
        limit: keep only the first `limit` images (sorted) of every scene class.
    """
    rows = _caption_rows(tsv, split)
    images = sorted({row["image"] for row in rows})
    if limit:
        per_class, kept = {}, set()
        scene = {row["image"]: row["scene_class"] for row in rows}
        for image in images:
            per_class[scene[image]] = per_class.get(scene[image], 0) + 1
            if per_class[scene[image]] <= limit:
                kept.add(image)
        images = [image for image in images if image in kept]
        rows = [row for row in rows if row["image"] in kept]
    number = {image: n for n, image in enumerate(images)}
    paths = [Path(data_root) / image for image in images]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} images named in {tsv} are missing (first: "
                                f"{missing[0]}); its image column must be relative to --data")
    return CaptionSet(paths, [row["caption"].strip() for row in rows],
                      np.asarray([number[row["image"]] for row in rows], np.int64))


def _caption_rows(tsv, split):
    with open(tsv, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        if tuple(reader.fieldnames or ()) != CAPTION_COLUMNS:
            raise ValueError(f"{tsv} must have the columns {' '.join(CAPTION_COLUMNS)}, "
                             f"found {reader.fieldnames}")
        rows = [row for row in reader if split is None or row["split"] == split]
    if not rows:
        raise ValueError(f"{tsv} has no rows of split {split!r}")
    return rows


def image_reader():
    """Name of the image reader used here: GDAL (average resampling) or, without GDAL, Pillow."""
    try:
        from osgeo import gdal  # noqa: F401
    except ImportError:
        return "pillow-box"
    return "gdal-average"


def read_image(path, size, reader="gdal-average"):
    """An image as float32 (3, size, size) in [0, 1], resized by area averaging."""
    if reader == "gdal-average":
        from osgeo import gdal

        dataset = gdal.Open(str(path))  # no UseExceptions: it is process-wide
        if dataset is None:
            raise OSError(f"GDAL cannot read the image {path}")
        pixels = dataset.ReadAsArray(buf_xsize=size, buf_ysize=size,
                                     resample_alg=gdal.GRIORA_Average)
        pixels = pixels[None] if pixels.ndim == 2 else pixels
    else:
        from PIL import Image

        with Image.open(path) as image:
            resized = image.convert("RGB").resize((size, size), Image.BOX)
        pixels = np.asarray(resized).transpose(2, 0, 1)
    return _to_unit_rgb(pixels, path)


def _to_unit_rgb(pixels, path):
    """First three bands (one band repeated) scaled to [0, 1] by the data type's range."""
    if pixels.shape[0] == 1:
        pixels = np.repeat(pixels, 3, axis=0)
    elif pixels.shape[0] == 2 or pixels.shape[0] > 4:
        raise ValueError(f"{path} has {pixels.shape[0]} bands; evaluation reads RGB(A) images")
    pixels = pixels[:3]
    if np.issubdtype(pixels.dtype, np.integer):
        return (pixels / np.float32(np.iinfo(pixels.dtype).max)).astype(np.float32)
    return np.clip(pixels, 0.0, 1.0).astype(np.float32)


def read_scene_classes(tsv, data_root, split):
    """The images of one split of a caption table as a classification set (its scene_class
    column), sorted by path: AID's test images are the few-shot validation set."""
    scene = {row["image"]: row["scene_class"] for row in _caption_rows(tsv, split)}
    images = sorted(scene)
    class_names = sorted(set(scene.values()))
    number = {name: n for n, name in enumerate(class_names)}
    return ImageFolder([Path(data_root) / image for image in images],
                       np.asarray([number[scene[image]] for image in images], np.int64),
                       class_names)
