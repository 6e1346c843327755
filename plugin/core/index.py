"""The tile index: per-tile embeddings (float16), footprints and provenance, cached on disk.

An index is one `.npz` file written atomically. Its name carries a cache key made from
everything that changes the embeddings (raster file, bands, scaling, tiling, model), so an
unchanged raster reuses its index and any change builds a new one.
"""

import hashlib
import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .tiling import Window, window_footprint

INDEX_SUFFIX = ".tlindex.npz"
INDEX_FORMAT = 1
# Up to this many tiles a query scans every embedding; above it an inverted file (k-means
# clusters of the embeddings) narrows the scan to the clusters nearest to the query.
EXACT_SEARCH_LIMIT = 100_000
# Below this size the float16 embeddings are also kept as float32 in memory once searched:
# numpy's float16 -> float32 conversion, not the product, is what a query waits for.
FLOAT32_CACHE_BYTES = 256 * 1024 * 1024


class TileIndexError(ValueError):
    """An index file is unreadable or was made by an incompatible version."""


@dataclass
class TileIndex:
    """Embeddings and footprints of the tiles of one raster, with how they were made."""

    embeddings: np.ndarray  # (tiles, dim) float16, unit length
    windows: np.ndarray  # (tiles, 4) int32: col, row, width, height in raster pixels
    geotransform: tuple
    crs_wkt: str
    provenance: dict = field(default_factory=dict)
    clusters: "Clusters" = None
    _float32: np.ndarray = field(default=None, repr=False, compare=False)

    def __len__(self):
        return len(self.embeddings)

    def window(self, tile):
        """The raster window of tile number `tile`."""
        return Window(*(int(v) for v in self.windows[tile]))

    def footprint(self, tile):
        """Corner coordinates of a tile in the raster CRS (the part inside the raster)."""
        raster = self.provenance.get("raster", {})
        return window_footprint(self.window(tile), self.geotransform, raster.get("width"),
                                raster.get("height"))

    def scores(self, query, negatives=None, negative_weight=0.5):
        """Cosine similarity of every tile to `query`, minus `negative_weight` times its best
        similarity to any negative query (so "ships but not harbours" can be asked)."""
        matrix = self._searchable()
        scores = _matvec(matrix, query)
        if negatives is not None and len(negatives):
            negative = np.max(np.stack([_matvec(matrix, n) for n in negatives]), axis=0)
            scores = scores - negative_weight * negative
        return scores

    def _searchable(self):
        """The embeddings as float32 when that fits the cache budget, else the float16 ones."""
        if self._float32 is None and self.embeddings.size * 4 <= FLOAT32_CACHE_BYTES:
            self._float32 = self.embeddings.astype(np.float32)
        return self._float32 if self._float32 is not None else self.embeddings

    def search(self, query, k=20, negatives=None, negative_weight=0.5, exact=False):
        """The `k` best tiles for a unit `query` vector: (tile numbers, scores), best first."""
        if len(self) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if self.clusters is None or exact:
            candidates = None
            scores = self.scores(query, negatives, negative_weight)
        else:
            ranges = self.clusters.probe_ranges(query)
            candidates = np.concatenate([np.arange(a, b) for a, b in ranges])
            block = np.concatenate([self.embeddings[a:b] for a, b in ranges])  # slices: memcpy
            sub = TileIndex(block, self.windows[:0], self.geotransform, self.crs_wkt)
            scores = sub.scores(query, negatives, negative_weight)
        best = _top_k(scores, k)
        tiles = best if candidates is None else candidates[best]
        return tiles.astype(np.int64), scores[best].astype(np.float32)

    def save(self, path):
        """Write the index atomically to `path` (a `.npz` file)."""
        meta = {"format": INDEX_FORMAT, "geotransform": list(self.geotransform),
                "crs_wkt": self.crs_wkt, "provenance": self.provenance}
        arrays = {"embeddings": self.embeddings.astype(np.float16), "windows": self.windows,
                  "meta": np.array(json.dumps(meta))}
        if self.clusters is not None:
            arrays.update(self.clusters.arrays())
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
        return Path(path)

    @classmethod
    def load(cls, path):
        """Read an index written by `save`."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            # a file cut short (a full disk, a killed copy) is not a zip any more
            raise TileIndexError(
                f"tile index {path} is unreadable ({err}); delete it to rebuild") from None
        if meta.get("format") != INDEX_FORMAT:
            raise TileIndexError(f"tile index {path} has format {meta.get('format')}, expected "
                              f"{INDEX_FORMAT}; delete it to rebuild")
        return cls(arrays["embeddings"], arrays["windows"], tuple(meta["geotransform"]),
                   meta["crs_wkt"], meta["provenance"], Clusters.from_arrays(arrays))


def build_index(embeddings, windows, geotransform, crs_wkt, provenance):
    """A TileIndex from per-tile unit embeddings and windows; large ones get clusters."""
    embeddings = np.asarray(embeddings, np.float16)
    embeddings = embeddings.reshape(len(windows), embeddings.shape[-1] if len(windows) == 0
                                    else -1)  # no tile (all nodata): an empty index
    windows = np.asarray([tuple(w) for w in windows], np.int32).reshape(-1, 4)
    index = TileIndex(embeddings, windows, tuple(geotransform), crs_wkt, provenance)
    if len(index) > EXACT_SEARCH_LIMIT:
        order, index.clusters = Clusters.fit(embeddings)
        index.embeddings, index.windows = embeddings[order], windows[order]
    return index


@dataclass
class Clusters:
    """An inverted file: k-means centroids and, per cluster, a contiguous run of tiles."""

    centroids: np.ndarray  # (clusters, dim) float32, unit length
    offsets: np.ndarray  # (clusters + 1,) int64: tiles of cluster c are offsets[c]:offsets[c+1]
    probe_fraction: float = 1 / 64

    @classmethod
    def fit(cls, embeddings, iterations=8, sample=50_000, seed=0):
        """Spherical k-means with about sqrt(tiles) clusters; returns (tile order, clusters)."""
        rng = np.random.default_rng(seed)
        count = max(2, int(np.sqrt(len(embeddings))))
        pick = rng.choice(len(embeddings), size=min(sample, len(embeddings)), replace=False)
        train = embeddings[pick].astype(np.float32)
        centroids = train[rng.choice(len(train), size=count, replace=False)]
        for _ in range(iterations):
            nearest = np.argmax(train @ centroids.T, axis=1)
            sums = _cluster_sums(train, nearest, count)
            empty = np.linalg.norm(sums, axis=1) == 0
            sums[empty] = centroids[empty]
            centroids = sums / np.linalg.norm(sums, axis=1, keepdims=True)
        assignment = np.concatenate([
            np.argmax(embeddings[i:i + 16384].astype(np.float32) @ centroids.T, axis=1)
            for i in range(0, len(embeddings), 16384)])
        order = np.argsort(assignment, kind="stable")
        offsets = np.searchsorted(assignment[order], np.arange(count + 1))
        return order, cls(centroids.astype(np.float32), offsets.astype(np.int64))

    def probe_ranges(self, query):
        """(start, stop) tile ranges of the clusters nearest to `query` (`probe_fraction` of
        the clusters), in tile order."""
        probes = max(1, int(np.ceil(len(self.centroids) * self.probe_fraction)))
        nearest = np.sort(_top_k(self.centroids @ np.asarray(query, np.float32), probes))
        return [(int(self.offsets[c]), int(self.offsets[c + 1])) for c in nearest]

    def candidates(self, query):
        """Tile numbers in the clusters nearest to `query`."""
        return np.concatenate([np.arange(a, b) for a, b in self.probe_ranges(query)])

    def arrays(self):
        return {"ivf_centroids": self.centroids, "ivf_offsets": self.offsets}

    @classmethod
    def from_arrays(cls, arrays):
        if "ivf_centroids" not in arrays:
            return None
        return cls(arrays["ivf_centroids"], arrays["ivf_offsets"])


def _cluster_sums(vectors, assignment, count):
    """(count, dim) sum of the vectors assigned to each cluster (np.add.at is slow on rows)."""
    order = np.argsort(assignment, kind="stable")
    present = np.flatnonzero(np.bincount(assignment, minlength=count))
    sums = np.zeros((count, vectors.shape[1]), np.float32)
    starts = np.searchsorted(assignment[order], present)
    sums[present] = np.add.reduceat(vectors[order], starts, axis=0)
    return sums


def _matvec(embeddings, vector, chunk=131072):
    """float16 (N, D) @ float32 (D,) in float32, chunked so the float32 copy stays small."""
    vector = np.asarray(vector, np.float32)
    out = np.empty(len(embeddings), np.float32)
    for start in range(0, len(embeddings), chunk):
        out[start:start + chunk] = embeddings[start:start + chunk].astype(np.float32) @ vector
    return out


def _top_k(scores, k):
    """Indices of the `k` largest scores, best first."""
    k = min(int(k), len(scores))
    if k <= 0:
        return np.zeros(0, np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def cache_key(raster_fingerprint, model_fingerprint, settings):
    """A short hash of everything that changes a raster's tile embeddings."""
    blob = json.dumps([raster_fingerprint, model_fingerprint, settings], sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def index_path(cache_dir, raster_path, key):
    """Where the index of `raster_path` with cache key `key` lives."""
    stem = Path(raster_path).stem[:60]
    return Path(cache_dir) / f"{stem}-{key}{INDEX_SUFFIX}"


def default_cache_dir():
    """The user's cache folder for TerraLens indexes (XDG on Linux, ~/.cache otherwise)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "terralens" / "index"


def search_indexes(indexes, query, k=20, negatives=None, negative_weight=0.5, skip=None):
    """Search several indexes together: a list of (index number, tile number, score), best first.

    `skip` ({index number: set of tile numbers}) leaves tiles out (the examples of a search by
    example).
    """
    hits = []
    for number, index in enumerate(indexes):
        left_out = (skip or {}).get(number, set())
        tiles, scores = index.search(query, k + len(left_out), negatives, negative_weight)
        hits += [(number, int(t), float(s)) for t, s in zip(tiles, scores)
                 if int(t) not in left_out]
    hits.sort(key=lambda hit: -hit[2])
    return hits[:k]
