"""Image and text encoders of a model bundle, run with onnxruntime (imported lazily)."""

from pathlib import Path

import numpy as np

from .bundle import BundleError, check_session_io, load_bundle
from .tokenizers import make_tokenizer

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
# onnxruntime error classes that mean the bytes are not a valid model.
CORRUPT_ERRORS = ("InvalidProtobuf", "InvalidGraph", "NoModel")
INSTALL_HINT = ("TerraLens needs the Python package onnxruntime: pip install onnxruntime "
                "(into the Python that QGIS runs; on Windows from the OSGeo4W Shell, on macOS "
                "and Linux with QGIS's python3 -m pip)")


def import_onnxruntime():
    """Return the onnxruntime module, or raise ImportError saying how to install it."""
    try:
        import onnxruntime
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    return onnxruntime


def choose_providers(providers, available):
    """Execution providers to ask for: CPU for None, CUDA first for "auto", else as given."""
    if providers is None or providers == "cpu":
        return [CPU]
    if providers == "auto":
        return [CUDA, CPU] if CUDA in available else [CPU]
    if isinstance(providers, str):
        providers = [providers]
    unknown = [name for name in providers if name not in available]
    if unknown:
        raise ValueError(f"onnxruntime here has no execution provider {', '.join(unknown)}; "
                         f"choose from {', '.join(available)} or 'auto'")
    return list(providers)


def open_session(path, providers=None, threads=None):
    """Open an ONNX model as an onnxruntime session.

    Args:
        path: the .onnx file.
        providers: None or "cpu" for the CPU, "auto" for CUDA when onnxruntime has it (else
            CPU), or a list of onnxruntime execution provider names.
        threads: intra-op threads; None lets onnxruntime run one per physical core.

    Raises:
        BundleError: the file is missing or is not a loadable ONNX model.
    """
    ort = import_onnxruntime()
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"model file {path} is missing: re-download or re-export the bundle")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = int(threads or 0)  # 0: onnxruntime's physical-core count
    options.inter_op_num_threads = 1  # the graphs are sequential; more threads only contend
    options.log_severity_level = 3  # errors only: warnings would flood the QGIS log
    chosen = choose_providers(providers, ort.get_available_providers())
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=chosen)
    except Exception as err:  # onnxruntime raises its own classes, not exported publicly
        raise load_error(path, err, ort.__version__) from None


def load_error(path, err, ort_version):
    """A BundleError that says why onnxruntime could not load `path` and what to do."""
    detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if type(err).__name__ in CORRUPT_ERRORS or path.stat().st_size == 0:
        return BundleError(f"model file {path} is corrupt or not an ONNX model ({detail}): "
                           "re-download the model bundle or re-export it")
    return BundleError(f"onnxruntime {ort_version} cannot load {path} ({detail}): update "
                       "onnxruntime, or re-export the bundle for this version")


def session_io(session):
    """{"inputs": {name: shape}, "outputs": {name: shape}} of an onnxruntime session."""
    return {"inputs": {arg.name: arg.shape for arg in session.get_inputs()},
            "outputs": {arg.name: arg.shape for arg in session.get_outputs()}}


def l2_normalise(array, axis):
    """Scale vectors along `axis` to unit length (zero vectors stay zero)."""
    norm = np.linalg.norm(array, axis=axis, keepdims=True)
    return (array / np.maximum(norm, 1e-12)).astype(np.float32, copy=False)


class ImageEncoder:
    """Runs image.onnx on batches of tiles.

    Attributes:
        calls: how many times the ONNX model has been run (tests use it to prove caching).
        tiles_encoded: how many tiles have been encoded in all.
    """

    def __init__(self, bundle, session, max_batch=32):
        self.bundle = bundle
        self.session = session
        self.max_batch = max(1, int(max_batch))
        spec = bundle.image
        self._mean = np.asarray(spec.mean, np.float32).reshape(1, -1, 1, 1)
        self._std = np.asarray(spec.std, np.float32).reshape(1, -1, 1, 1)
        self.calls = 0
        self.tiles_encoded = 0

    @property
    def has_dense(self):
        """Whether the bundle has a dense (per-location) output."""
        return bool(self.bundle.image.dense_output)

    def encode(self, pixels):
        """Embed tiles and return their dense maps.

        Args:
            pixels: float32 (B, bands, size, size) scaled to [0, 1], already resized to
                `bundle.image.size`.

        Returns:
            (embeddings (B, D) unit length, dense (B, D, grid, grid) unit length at every
            location, or None when the bundle has no dense output).
        """
        spec = self.bundle.image
        names = [spec.embedding_output] + ([spec.dense_output] if self.has_dense else [])
        results = self._run(pixels, names)
        dense = l2_normalise(results[1], axis=1) if self.has_dense else None
        if dense is not None:
            self._check_grid(dense)
        return l2_normalise(results[0], axis=1), dense

    def encode_embeddings(self, pixels):
        """Like `encode` but only the (B, D) embeddings (the dense map is never computed)."""
        return l2_normalise(self._run(pixels, [self.bundle.image.embedding_output])[0], axis=1)

    def _run(self, pixels, names):
        pixels = self._check_pixels(pixels)
        normalised = (pixels - self._mean) / self._std
        chunks = [[] for _ in names]
        for start in range(0, len(normalised), self.max_batch):
            batch = np.ascontiguousarray(normalised[start:start + self.max_batch])
            outputs = self.session.run(names, {self.bundle.image.input_name: batch})
            self.calls += 1
            self.tiles_encoded += len(batch)
            for chunk, output in zip(chunks, outputs):
                chunk.append(np.asarray(output, np.float32))
        if not len(normalised):
            return [self._empty(name) for name in names]
        return [np.concatenate(chunk) for chunk in chunks]

    def _empty(self, name):
        dim, grid = self.bundle.embedding_dim, self.bundle.image.dense_grid
        shape = (0, dim) if name == self.bundle.image.embedding_output else (0, dim, grid, grid)
        return np.zeros(shape, np.float32)

    def _check_pixels(self, pixels):
        spec = self.bundle.image
        pixels = np.asarray(pixels, dtype=np.float32)
        expected = (len(spec.bands), spec.size, spec.size)
        if pixels.ndim != 4 or pixels.shape[1:] != expected:
            raise ValueError(f"image encoder of {self.bundle.id!r} takes (batch, "
                             f"{expected[0]}, {expected[1]}, {expected[2]}) pixels, got shape "
                             f"{pixels.shape}: resize tiles to {spec.size} pixels and map "
                             f"the raster's bands to {', '.join(spec.bands)}")
        return pixels

    def _check_grid(self, dense):
        grid = self.bundle.image.dense_grid
        if dense.shape[2:] != (grid, grid):
            raise BundleError(f"model bundle {self.bundle.id!r} says image.dense_grid is {grid}, "
                              f"but image.onnx returns a {dense.shape[2]}x{dense.shape[3]} "
                              "map: fix bundle.json or re-export the bundle")


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
    """A loaded model bundle: its description and its two encoders."""

    def __init__(self, bundle, image, text):
        self.bundle = bundle
        self.image = image
        self.text = text

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
    image_session = open_session(bundle.path(bundle.image.file), providers, threads)
    text_session = open_session(bundle.path(bundle.text.file), providers, threads)
    check_session_io(bundle, session_io(image_session), session_io(text_session))
    tokenizer = make_tokenizer(bundle)
    return Model(bundle, ImageEncoder(bundle, image_session),
                 TextEncoder(bundle, text_session, tokenizer))
