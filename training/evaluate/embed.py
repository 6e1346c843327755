"""Image and text embeddings for evaluation: batched, read ahead, cached on disk, with progress."""

import hashlib
import io
import json
import re
import sys
import threading
import time
from pathlib import Path

import numpy as np

from terralens.plugin.core.atomic import atomic_write_bytes

from .data import read_image

DEFAULT_CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "eval"
BATCH = 64  # images read and encoded together
PROGRESS_SECONDS = 5.0


def file_fingerprint(path):
    """Size and modification time of a file (what makes a cached embedding stale)."""
    stat = Path(path).stat()
    return {"size": stat.st_size, "mtime": stat.st_mtime}


def cache_key(*parts):
    """A short stable hash of JSON-serialisable parts."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class EmbeddingCache:
    """Arrays in `folder` named by dataset and key; writes are atomic, a bad file is recomputed."""

    def __init__(self, folder):
        self.folder = Path(folder) if folder else None

    def path(self, name, key):
        return self.folder / f"{name}-{key}.npy"

    def get(self, name, key):
        if self.folder is None or not self.path(name, key).is_file():
            return None
        try:
            return np.load(self.path(name, key), allow_pickle=False)
        except (ValueError, OSError):
            return None  # truncated or foreign: recompute and overwrite

    def put(self, name, key, array):
        if self.folder is not None:
            buffer = io.BytesIO()
            np.save(buffer, np.asarray(array, np.float32), allow_pickle=False)
            atomic_write_bytes(self.path(name, key), buffer.getvalue())


class Embedder:
    """Embeds image lists and text lists with a loaded model, through an `EmbeddingCache`.

    Attributes:
        stats: images encoded, images taken from the cache, seconds in the image encoder.
    """

    def __init__(self, model, image_size, reader, cache, data_root, progress=True, views=1):
        self.model, self.image_size, self.reader = model, int(image_size), reader
        self.views = int(views)  # rotations averaged per image, as the plugin's tiles
        self.cache, self.data_root, self.progress = cache, Path(data_root), progress
        self.stats = {"images_encoded": 0, "images_reused": 0, "encoder_seconds": 0.0}
        self._memory = {}

    def _file_name(self, name):
        """Cache files start with the bundle id and the data set, for people who look."""
        return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{self.model.bundle.id}-{name}")

    def _key(self, part, items):
        bundle = self.model.bundle
        spec = bundle.image if part == "image" else bundle.text
        names = [_relative(item, self.data_root) for item in items] if part == "image" else items
        # views only in keys of more than one, so single-view caches stay valid
        views = [self.views] if part == "image" and self.views > 1 else []
        return cache_key(bundle.id, part, file_fingerprint(bundle.path(spec.file)),
                         spec.__dict__, self.image_size if part == "image" else None,
                         self.reader if part == "image" else None, names, *views)

    def images(self, name, paths):
        """(len(paths), dim) unit embeddings of image files, resized to `image_size`."""
        key = self._key("image", paths)
        cached = self._memory.get(key)
        cached = self.cache.get(self._file_name(name), key) if cached is None else cached
        if cached is not None and len(cached) == len(paths):
            self.stats["images_reused"] += len(paths)
        else:
            cached = self._encode_images(name, paths)
            self.cache.put(self._file_name(name), key, cached)
        self._memory[key] = cached
        return cached

    def texts(self, name, texts):
        """(len(texts), dim) unit embeddings; each distinct text is encoded once."""
        distinct = sorted(set(texts))
        key = self._key("text", distinct)
        vectors = self.cache.get(self._file_name(name), key)
        if vectors is None or len(vectors) != len(distinct):
            vectors = self.model.text.encode(distinct)
            self.cache.put(self._file_name(name), key, vectors)
        row = {text: n for n, text in enumerate(distinct)}
        return vectors[[row[text] for text in texts]]

    def _encode_images(self, name, paths):
        batches = [paths[i:i + BATCH] for i in range(0, len(paths), BATCH)]
        outputs, done, started, shown = [], 0, time.monotonic(), time.monotonic()
        for pixels in _read_ahead(batches, self.image_size, self.reader):
            tic = time.perf_counter()
            outputs.append(self.model.image.encode_embeddings(pixels, self.views))
            self.stats["encoder_seconds"] += time.perf_counter() - tic
            done += len(pixels)
            if self.progress and (time.monotonic() - shown > PROGRESS_SECONDS
                                  or done == len(paths)):
                shown = time.monotonic()
                rate = done / max(shown - started, 1e-9)
                print(f"evaluate: {name} {done}/{len(paths)} images ({rate:.0f}/s)",
                      file=sys.stderr, flush=True)
        self.stats["images_encoded"] += done
        if not outputs:
            return np.zeros((0, self.model.bundle.embedding_dim), np.float32)
        return np.concatenate(outputs)


def _relative(path, root):
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _read_ahead(batches, size, reader):
    """Yield stacked pixel batches; the next batch is read in a thread while one is encoded."""
    def read(batch, slot):
        try:
            slot.append(np.stack([read_image(path, size, reader) for path in batch]))
        except BaseException as err:  # handed to the consumer below
            slot.append(err)

    pending = None
    for number in range(len(batches) + 1):
        following = None
        if number < len(batches):
            slot = []
            following = (threading.Thread(target=read, args=(batches[number], slot)), slot)
            following[0].start()
        if pending is not None:
            pending[0].join()
            if isinstance(pending[1][0], BaseException):
                raise pending[1][0]
            yield pending[1][0]
        pending = following
