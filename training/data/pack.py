"""Compact training packs: resized WebP images in one blob, frozen caption features, labels.

Build one with
`python -m training pack --split train --size 128 --out packs/rsicd-aid-train-128.pack`
and read it with `PackDataset`. A pack is one uncompressed `.npz` file (any suffix) holding:

- `image_blob` (uint8) + `image_offsets` (N+1): every image as WebP, `size` x `size` RGB;
- `text_features` (U, D) float16: the frozen MiniLM features of the U unique captions;
- `caption_offsets` (N+1) + `caption_index`: each image's captions (repeats kept) as rows of U;
- `class_ids` (N, -1 unknown) and `class_caption_index` (N, -1 none): the row of U holding
  `a remote sensing image of a {class}.` for the image's scene class;
- `class_template_rows` (C, T), with class captions only: the rows of U holding each class's
  caption in every wording of `CLASS_CAPTION_TEMPLATES` (column 0 is the caption above);
- `lonlat` (N, 2) float32, only when items carry coordinates (NaN where one does not);
- `meta`: zlib-compressed JSON (format, size, names, class names, caption texts, source).
"""

import argparse
import io
import json
import os
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from terralens.plugin.core.atomic import atomic_path

from .data import (
    CLASS_CAPTION_TEMPLATES,
    CaptionDataset,
    DataError,
    GeoTiffTileDataset,
    ImageFolderDataset,
    class_caption,
    default_data_root,
)

PACK_FORMAT = "terralens-pack"
PACK_VERSION = 1


def default_threads():
    """Threads for image coding: every core this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count() or 1)


def encode_webp(image, size, quality=80):
    """Resize an (H, W, 3) uint8 array to `size` x `size` and encode it as WebP bytes."""
    img = Image.fromarray(image)
    if img.size != (size, size):
        img = img.resize((size, size), Image.BICUBIC)
    buffer = io.BytesIO()
    img.save(buffer, "WEBP", quality=quality, method=4)
    return buffer.getvalue()


def _load_and_encode(dataset, size, quality, threads):
    """Load every item of `dataset`, encode its image; return (webp bytes list, item dicts)."""
    def work(index):
        item = dataset[index]
        return encode_webp(item.pop("image"), size, quality), item

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(work, range(len(dataset))))
    return [r[0] for r in results], [r[1] for r in results]


def _caption_tables(items, class_captions):
    """Unique caption texts, per-image caption rows (CSR), class ids and class-caption rows."""
    texts, row_of = [], {}

    def row(text):
        if text not in row_of:
            row_of[text] = len(texts)
            texts.append(text)
        return row_of[text]

    offsets, index = [0], []
    for item in items:
        index.extend(row(text) for text in item.get("captions", ()))
        offsets.append(len(index))
    class_names = sorted({item["scene_class"] for item in items if item.get("scene_class")})
    class_ids = np.array([class_names.index(item["scene_class"]) if item.get("scene_class")
                          else -1 for item in items], np.int16)
    templates = CLASS_CAPTION_TEMPLATES if class_captions else ()
    template_rows = np.array([[row(class_caption(name, t)) for t in templates]
                              for name in class_names], np.int32)
    template_rows = template_rows.reshape(len(class_names), len(templates))
    class_caption_index = np.array([template_rows[c, 0] if templates and c >= 0 else -1
                                    for c in class_ids], np.int32)
    return texts, (np.array(offsets, np.int64), np.array(index, np.int32)), \
        class_names, class_ids, class_caption_index, template_rows


def build_pack(dataset, out, size=128, quality=80, class_captions=True, encode_text=None,
               threads=None, source=""):
    """Encode a dataset into a pack file (see the module docstring) and return its meta dict.

    Args:
        dataset: indexable items `{"image", "name", ["captions"], ["scene_class"], ["lon", "lat"]}`.
        out: the pack file to write (atomically).
        size: side of the stored square images.
        quality: WebP quality.
        class_captions: store the `a remote sensing image of a {class}.` captions too.
        encode_text: captions -> (U, D) features; default
            `training.model.model.precompute_text_features`.
        threads: image coding threads (default: all cores).
        source: a free-text note of where the data came from, kept in the meta.
    """
    if len(dataset) == 0:
        raise DataError("the dataset to pack is empty")
    started = time.time()
    blobs, items = _load_and_encode(dataset, size, quality, threads or default_threads())
    texts, (cap_offsets, cap_index), class_names, class_ids, class_rows, template_rows = \
        _caption_tables(items, class_captions)
    arrays = {"image_blob": np.frombuffer(b"".join(blobs), np.uint8),
              "image_offsets": np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64),
              "caption_offsets": cap_offsets, "caption_index": cap_index,
              "class_ids": class_ids, "class_caption_index": class_rows,
              "text_features": _encode_texts(texts, encode_text)}
    if template_rows.size:
        arrays["class_template_rows"] = template_rows
    if any("lon" in item for item in items):
        arrays["lonlat"] = np.array([[item.get("lon", np.nan), item.get("lat", np.nan)]
                                     for item in items], np.float32)
    meta = {"format": PACK_FORMAT, "version": PACK_VERSION, "size": size, "quality": quality,
            "source": source, "count": len(items), "names": [item["name"] for item in items],
            "class_names": class_names, "captions": texts,
            "class_captions": bool(class_captions),
            "class_caption_templates": list(CLASS_CAPTION_TEMPLATES) if class_captions else [],
            "seconds": round(time.time() - started, 1)}
    arrays["meta"] = np.frombuffer(zlib.compress(json.dumps(meta).encode("utf-8")), np.uint8)
    with atomic_path(out) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    return meta


def _encode_texts(texts, encode_text):
    """Frozen text features of the unique captions as float16 (an empty (0, 0) array if none)."""
    if not texts:
        return np.zeros((0, 0), np.float16)
    if encode_text is None:
        from ..model.model import precompute_text_features as encode_text
    return np.asarray(encode_text(texts), np.float32).astype(np.float16)


class PackDataset:
    """A pack decoded into memory: `images` (N, S, S, 3) uint8 plus the caption tables.

    Args:
        path: the pack file.
        threads: WebP decoding threads (default: all cores).
        limit: keep only `limit` images, spread evenly over the pack (smoke runs).
    """

    def __init__(self, path, threads=None, limit=None):
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"pack {self.path} not found; build it with `python -m training pack`")
        with np.load(self.path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        self.meta = json.loads(zlib.decompress(arrays.pop("meta").tobytes()).decode("utf-8"))
        if self.meta.get("format") != PACK_FORMAT:
            raise DataError(f"{self.path} is not a TerraLens pack "
                            f"(format {self.meta.get('format')!r})")
        keep = spread_indices(self.meta["count"], limit)
        self.size = int(self.meta["size"])
        self.names = [self.meta["names"][i] for i in keep]
        self.class_names, self.captions = self.meta["class_names"], self.meta["captions"]
        self.text_features = arrays["text_features"]
        self.caption_offsets, self.caption_index = _select_csr(
            arrays["caption_offsets"], arrays["caption_index"], keep)
        self.class_ids = arrays["class_ids"][keep]
        self.class_caption_index = arrays["class_caption_index"][keep]
        # (C, T) rows of every class caption wording; None in packs made before wordings.
        self.class_template_rows = arrays.get("class_template_rows")
        self.lonlat = arrays["lonlat"][keep] if "lonlat" in arrays else None
        self.images = decode_images(arrays["image_blob"], arrays["image_offsets"], keep,
                                    self.size, threads or default_threads())

    def __len__(self):
        return len(self.images)

    def captions_of(self, index, class_captions=False):
        """Rows of `text_features` for one image's captions (+ its class caption if asked)."""
        rows = self.caption_index[self.caption_offsets[index]:self.caption_offsets[index + 1]]
        extra = self.class_caption_index[index]
        if class_captions and extra >= 0:
            rows = np.append(rows, extra)
        return rows

    def caption_table(self, class_captions=False):
        """Every image's caption rows as CSR arrays (offsets (N+1,), rows), for sampling."""
        lists = [self.captions_of(i, class_captions) for i in range(len(self))]
        offsets = np.cumsum([0] + [len(rows) for rows in lists]).astype(np.int64)
        rows = np.concatenate(lists).astype(np.int64) if offsets[-1] else np.zeros(0, np.int64)
        return offsets, rows


def spread_indices(count, limit=None):
    """Indices of `limit` images spread evenly over `count` (all when no limit), so that a
    smoke run on a class-sorted pack still sees every class."""
    if not limit or limit >= count:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(np.int64))


def _select_csr(offsets, rows, keep):
    """The CSR caption table restricted to the images `keep`."""
    lists = [rows[offsets[i]:offsets[i + 1]] for i in keep]
    new_offsets = np.cumsum([0] + [len(part) for part in lists]).astype(np.int64)
    new_rows = np.concatenate(lists) if new_offsets[-1] else np.zeros(0, np.int32)
    return new_offsets, new_rows


def decode_images(blob, offsets, keep, size, threads):
    """Decode the WebP images `keep` of one blob into a (K, size, size, 3) uint8 array."""
    images = np.empty((len(keep), size, size, 3), np.uint8)
    data = blob.tobytes()

    def work(slot):
        start, end = offsets[keep[slot]], offsets[keep[slot] + 1]
        with Image.open(io.BytesIO(data[start:end])) as img:
            images[slot] = np.asarray(img.convert("RGB"))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(len(keep))))
    return images


def dataset_from_args(args):
    """The dataset a command line names (`--source` and its options)."""
    root = Path(args.data_root) if args.data_root else default_data_root()
    if args.source == "rsicd-aid":
        return CaptionDataset.rsicd_aid(args.split, root)
    if args.source == "ucm":
        print("note: UCM is an evaluation set; never train on it (DATA.md)", file=sys.stderr)
        return CaptionDataset.ucm(args.split, root)
    if args.source == "tsv":
        if not args.tsv:
            raise DataError("--source tsv needs --tsv PATH (and --image-root if not beside it)")
        return CaptionDataset(args.tsv, args.image_root, args.split or None)
    if args.source == "folder":
        return ImageFolderDataset(args.image_root)
    return GeoTiffTileDataset(args.geotiff, args.tile_size, None, args.bands, args.scale)


def parse_args(argv=None):
    """Command-line options of `python -m training pack`."""
    parser = argparse.ArgumentParser(prog="python -m training pack",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="rsicd-aid",
                        choices=["rsicd-aid", "ucm", "tsv", "folder", "geotiff"])
    parser.add_argument("--split", default="train", help="TSV split to keep ('' for all)")
    parser.add_argument("--size", type=int, default=128, help="side of the stored images")
    parser.add_argument("--quality", type=int, default=80, help="WebP quality")
    parser.add_argument("--out", required=True, help="pack file to write, e.g. packs/x.pack")
    parser.add_argument("--data-root", help="shared data folder (default ../shared/data)")
    parser.add_argument("--tsv", help="your own `split image scene_class caption` TSV")
    parser.add_argument("--image-root", help="folder of the TSV's images / of class folders")
    parser.add_argument("--geotiff", default=str(default_data_root() / "scenes" / "satclip_s2"
                                                 / "index.csv"),
                        help="GeoTIFF file or index.csv with an `fn` column")
    parser.add_argument("--tile-size", type=int, help="GeoTIFF tile side (default whole raster)")
    parser.add_argument("--bands", type=int, nargs=3, default=[4, 3, 2], help="GeoTIFF RGB bands")
    parser.add_argument("--scale", type=float, default=3000.0, help="GeoTIFF value for 255")
    parser.add_argument("--no-class-captions", action="store_true",
                        help="leave out the `a remote sensing image of a {class}.` captions")
    parser.add_argument("--threads", type=int, help="image coding threads")
    return parser.parse_args(argv)


def main(argv=None):
    """Build a pack from the command line and print its summary."""
    args = parse_args(argv)
    dataset = dataset_from_args(args)
    meta = build_pack(dataset, args.out, args.size, args.quality, not args.no_class_captions,
                      threads=args.threads, source=f"{args.source}:{args.split}")
    megabytes = Path(args.out).stat().st_size / 2 ** 20
    print(json.dumps({"out": args.out, "images": meta["count"], "captions": len(meta["captions"]),
                      "classes": len(meta["class_names"]), "size": meta["size"],
                      "megabytes": round(megabytes, 2), "seconds": meta["seconds"]}))
