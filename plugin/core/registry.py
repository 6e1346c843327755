"""Where model bundles are found (embedded and user-added) and a cache of loaded models."""

import threading
from pathlib import Path

from .bundle import BUNDLE_FILE, BundleError, load_bundle

EMBEDDED_DIR = Path(__file__).resolve().parents[2] / "models"
DEFAULT_BUNDLE_ID = "terralens-effnet-minilm-v1"

_cache = {}
_lock = threading.Lock()


def bundle_dirs(extra_dirs=()):
    """Bundle folders: the embedded ones, then user-added folders (a bundle or a parent of some)."""
    found = []
    for root in [EMBEDDED_DIR, *map(Path, extra_dirs)]:
        if (root / BUNDLE_FILE).is_file():
            found.append(root)
        elif root.is_dir():
            found += sorted(p.parent for p in root.glob(f"*/{BUNDLE_FILE}"))
    return found


def available_bundles(extra_dirs=()):
    """(bundle, problem) pairs for every bundle folder found; problem is None when it loads."""
    results = []
    for folder in bundle_dirs(extra_dirs):
        try:
            results.append((load_bundle(folder), None))
        except BundleError as err:
            results.append((folder, str(err)))
    return results


def default_bundle_dir():
    """The embedded default model's folder.

    Raises:
        BundleError: it is not installed (say how to get it or how to choose another).
    """
    folder = EMBEDDED_DIR / DEFAULT_BUNDLE_ID
    if not (folder / BUNDLE_FILE).is_file():
        raise BundleError(f"the default model {DEFAULT_BUNDLE_ID} is not installed in "
                          f"{EMBEDDED_DIR}: choose a model bundle folder instead")
    return folder


def cached_model(bundle_dir=None, providers=None, threads=None):
    """A loaded model (see `encoders.load_model`), reused while its files are unchanged."""
    from .encoders import load_model

    folder = Path(bundle_dir) if bundle_dir else default_bundle_dir()
    key = (str(folder.resolve()), _mtimes(folder), str(providers), threads)
    with _lock:
        model = _cache.get(key)
        if model is None:
            model = load_model(folder, providers, threads)
            _cache.clear()  # keep one model in memory: they are large
            _cache[key] = model
    return model


def _mtimes(folder):
    return tuple(p.stat().st_mtime_ns for p in sorted(folder.glob("*")) if p.is_file())
