"""onnxruntime sessions (imported lazily, with the install hint when missing) and their outputs."""

from pathlib import Path

import numpy as np

from .bundle import BundleError

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
    # Tiles are read in a thread beside the encoder, on the same cores: onnxruntime's threads
    # busy-waiting between operators would take the CPU away from it. Measured with `make
    # bench` on a 2-core VM: labelling 115 -> 142 tiles/s, a prompt mask 19.6 -> 15.5 s, for
    # an encoder alone at 139 instead of 145 tiles/s.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
