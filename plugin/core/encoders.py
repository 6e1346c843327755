"""Image and text encoders of a model bundle, run with onnxruntime (imported lazily)."""

import numpy as np

from .bundle import BundleError, check_image_io, check_session_io, load_bundle
from .location import load_location_encoder
from .onnx_session import l2_normalise, open_session, session_io
from .tokenizers import make_tokenizer

# Quarter turns of a tile, in the order views are added: 2 views are 0 and 180 degrees.
QUARTER_TURNS = (0, 2, 1, 3)
MAX_VIEWS = len(QUARTER_TURNS)


def check_views(views):
    """`views` as an int, 1 to MAX_VIEWS, or a ValueError that says what is allowed."""
    try:
        whole = int(views)
    except (TypeError, ValueError):
        whole = None
    if whole is None or isinstance(views, bool) or whole != views or not 1 <= whole <= MAX_VIEWS:
        raise ValueError(f"views (rotations of each tile averaged) must be a whole number from "
                         f"1 to {MAX_VIEWS}, got {views!r}")
    return whole


class ImageEncoder:
    """Runs one image encoder of a bundle (optionally its band adapter first) on batches of tiles.

    Attributes:
        spec: the encoder's `ImageSpec` (bands, size, outputs); the bundle's main one by default.
        calls: how many times the ONNX model has been run (tests use it to prove caching).
        tiles_encoded: how many tiles have been encoded in all.
    """

    def __init__(self, bundle, session, max_batch=32, spec=None, adapter_session=None):
        self.bundle = bundle
        self.session = session
        self.spec = spec or bundle.image
        self.adapter_session = adapter_session
        self.max_batch = max(1, int(max_batch))
        spec = self.spec
        self.embedding_map = load_embedding_map(bundle, spec)
        self._mean = np.asarray(spec.mean, np.float32).reshape(1, -1, 1, 1)
        self._std = np.asarray(spec.std, np.float32).reshape(1, -1, 1, 1)
        self.calls = 0
        self.tiles_encoded = 0

    @property
    def has_dense(self):
        """Whether the encoder has a dense (per-location) output."""
        return bool(self.spec.dense_output)

    def encode(self, pixels):
        """Embed tiles and return their dense maps.

        Args:
            pixels: float32 (B, bands, size, size) scaled to [0, 1], already resized to
                `spec.size`.

        Returns:
            (embeddings (B, D) unit length, dense (B, D, grid, grid) unit length at every
            location, or None when the bundle has no dense output).
        """
        spec = self.spec
        names = [spec.embedding_output] + ([spec.dense_output] if self.has_dense else [])
        results = self._run(pixels, names)
        dense = l2_normalise(results[1], axis=1) if self.has_dense else None
        if dense is not None:
            self._check_grid(dense)
        return l2_normalise(results[0], axis=1), dense

    def encode_embeddings(self, pixels, views=1):
        """Like `encode` but only the (B, D) embeddings (the dense map is never computed).

        Args:
            views: 1 to MAX_VIEWS rotations of each tile (by QUARTER_TURNS) encoded, their unit
                embeddings averaged. Overhead imagery has no "up", so the average describes a
                tile better than any one view (measured on AID validation images: see
                `TileSettings.views`); the cost is `views` times one encoding.
        """
        views = check_views(views)
        pixels = self._check_pixels(pixels)
        if views > 1:
            pixels = np.concatenate([np.rot90(pixels, turns, axes=(2, 3))
                                     for turns in QUARTER_TURNS[:views]])
        unit = l2_normalise(self._run(pixels, [self.spec.embedding_output])[0], axis=1)
        if self.embedding_map is not None:
            unit = l2_normalise(unit @ self.embedding_map[:-1] + self.embedding_map[-1], axis=1)
        return l2_normalise(unit.reshape(views, -1, unit.shape[1]).mean(axis=0), axis=1)

    def _run(self, pixels, names):
        pixels = self._check_pixels(pixels)
        normalised = (pixels - self._mean) / self._std
        chunks = [[] for _ in names]
        for start in range(0, len(normalised), self.max_batch):
            batch = np.ascontiguousarray(normalised[start:start + self.max_batch])
            if self.adapter_session is not None:
                batch = self.adapter_session.run([self.spec.adapter_output],
                                                 {self.spec.input_name: batch})[0]
            outputs = self.session.run(names, {self.spec.input_name: batch})
            self.calls += 1
            self.tiles_encoded += len(batch)
            for chunk, output in zip(chunks, outputs):
                chunk.append(np.asarray(output, np.float32))
        if not len(normalised):
            return [self._empty(name) for name in names]
        return [np.concatenate(chunk) for chunk in chunks]

    def _empty(self, name):
        dim, grid = self.bundle.embedding_dim, self.spec.dense_grid
        shape = (0, dim) if name == self.spec.embedding_output else (0, dim, grid, grid)
        return np.zeros(shape, np.float32)

    def _check_pixels(self, pixels):
        spec = self.spec
        pixels = np.asarray(pixels, dtype=np.float32)
        expected = (len(spec.bands), spec.size, spec.size)
        if pixels.ndim != 4 or pixels.shape[1:] != expected:
            raise ValueError(f"image encoder {spec.name!r} of {self.bundle.id!r} takes (batch, "
                             f"{expected[0]}, {expected[1]}, {expected[2]}) pixels, got shape "
                             f"{pixels.shape}: resize tiles to {spec.size} pixels and map "
                             f"the raster's bands to {', '.join(spec.bands)}")
        return pixels

    def _check_grid(self, dense):
        grid = self.spec.dense_grid
        if dense.shape[2:] != (grid, grid):
            raise BundleError(f"model bundle {self.bundle.id!r} says dense_grid of image encoder "
                              f"{self.spec.name!r} is {grid}, "
                              f"but image.onnx returns a {dense.shape[2]}x{dense.shape[3]} "
                              "map: fix bundle.json or re-export the bundle")


def load_embedding_map(bundle, spec):
    """The encoder's embedding map (`ImageSpec.embedding_map`) as float32, or None."""
    if not spec.embedding_map:
        return None
    path = bundle.path(spec.embedding_map)
    try:
        matrix = np.load(path, allow_pickle=False).astype(np.float32)
    except (OSError, ValueError) as err:
        raise BundleError(f"model bundle {bundle.id!r}: {spec.embedding_map} of image encoder "
                          f"{spec.name!r} cannot be read ({err}); re-export the bundle") from None
    dim = bundle.embedding_dim
    if matrix.shape != (dim + 1, dim) or not np.isfinite(matrix).all():
        raise BundleError(f"model bundle {bundle.id!r}: {spec.embedding_map} of image encoder "
                          f"{spec.name!r} must be a finite ({dim + 1}, {dim}) matrix, got "
                          f"{matrix.shape}; re-export the bundle")
    return matrix


class TextEncoder:
    """Tokenizes texts and runs text.onnx on them."""

    def __init__(self, bundle, session, tokenizer, max_batch=256):
        self.bundle = bundle
        self.session = session
        self.tokenizer = tokenizer
        self.max_batch = max(1, int(max_batch))
        self.calls = 0

    def encode(self, texts):
        """Embed texts.

        Args:
            texts: a list of strings (a single string counts as a list of one).

        Returns:
            float32 (N, D), unit length.
        """
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.bundle.embedding_dim), np.float32)
        spec = self.bundle.text
        input_ids, attention_mask = self.tokenizer.encode_batch(texts)
        chunks = []
        for start in range(0, len(texts), self.max_batch):
            stop = start + self.max_batch
            feeds = {spec.input_ids_name: np.asarray(input_ids[start:stop], np.int64)}
            if spec.attention_mask_name:
                feeds[spec.attention_mask_name] = np.asarray(attention_mask[start:stop],
                                                             np.int64)
            chunks.append(self.session.run([spec.embedding_output], feeds)[0])
            self.calls += 1
        return l2_normalise(np.concatenate(chunks).astype(np.float32), axis=1)


class Model:
    """A loaded model bundle: its description, its image encoders and its text encoder.

    Attributes:
        image: the main (RGB) image encoder.
        images: every image encoder by name (the main one and the other sensors').
        location: a `location.LocationEncoder`, or None when the bundle has none.
    """

    def __init__(self, bundle, image, text, images=None, location=None):
        self.bundle = bundle
        self.image = image
        self.text = text
        self.images = images or {image.spec.name: image}
        self.location = location

    def image_for(self, name=None):
        """The image encoder called `name` (None: the main one)."""
        if name is None:
            return self.image
        if name not in self.images:
            raise BundleError(f"model bundle {self.bundle.id!r} has no image encoder {name!r}; "
                              f"it has {', '.join(self.images)}")
        return self.images[name]

    def __repr__(self):
        return f"Model({self.bundle.id!r}, dim={self.bundle.embedding_dim})"


def load_model(bundle_dir, providers=None, threads=None):
    """Load a model bundle folder and open its encoders.

    Args:
        bundle_dir: folder holding bundle.json, image.onnx and text.onnx.
        providers: see `open_session` (None: CPU; "auto": CUDA when available).
        threads: intra-op threads per session; None lets onnxruntime choose.

    Raises:
        BundleError: the bundle is missing, malformed, or its ONNX files do not match it.
    """
    bundle = load_bundle(bundle_dir)
    sessions = {}  # one session per ONNX file: sensors with adapters share the main encoder

    def session(name):
        if name not in sessions:
            sessions[name] = open_session(bundle.path(name), providers, threads)
        return sessions[name]

    text_session = open_session(bundle.path(bundle.text.file), providers, threads)
    check_session_io(bundle, session_io(session(bundle.image.file)), session_io(text_session))
    images = {}
    for spec in bundle.image_specs:
        adapter = session(spec.adapter) if spec.adapter else None
        check_image_io(bundle, spec, session_io(session(spec.file)),
                       session_io(adapter) if adapter is not None else None)
        images[spec.name] = ImageEncoder(bundle, session(spec.file), spec=spec,
                                         adapter_session=adapter)
    location = load_location_encoder(bundle, providers, threads)
    return Model(bundle, images[bundle.image.name], TextEncoder(bundle, text_session,
                                                                make_tokenizer(bundle)),
                 images=images, location=location)
