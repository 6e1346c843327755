"""Where model bundles are found (embedded and user-added) and a cache of loaded models."""

import shutil
import tempfile
import threading
import zipfile
import zlib
from pathlib import Path, PurePosixPath

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


def default_bundle_dir(search_dirs=()):
    """The default model's folder: embedded in the plugin, else installed in `search_dirs`.

    Raises:
        BundleError: it is not installed (say how to get it or how to choose another).
    """
    for root in [EMBEDDED_DIR, *map(Path, search_dirs)]:
        folder = root / DEFAULT_BUNDLE_ID
        if (folder / BUNDLE_FILE).is_file():
            return folder
    raise BundleError(f"the default model {DEFAULT_BUNDLE_ID} is not installed: install its "
                      f"model pack (terralens-model-{DEFAULT_BUNDLE_ID}.zip) with TerraLens > "
                      "Models and settings, or choose a model bundle folder")


def install_model_pack(pack_zip, models_dir):
    """Unpack a model-pack zip (one bundle folder) into `models_dir`; return the bundle folder.

    The bundle is checked before it replaces an installed one of the same id, and the archive
    may not write outside its folder.

    Raises:
        BundleError: not a model pack, or the bundle in it does not load.
    """
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    try:
        archive = zipfile.ZipFile(pack_zip)
    except (OSError, zipfile.BadZipFile) as err:
        raise BundleError(f"{pack_zip} is not a model pack zip ({err})") from None
    with archive, tempfile.TemporaryDirectory(dir=models_dir, prefix=".install-") as tmp:
        tops = {PurePosixPath(name).parts[0] for name in archive.namelist()}
        unsafe = [n for n in archive.namelist() if ".." in PurePosixPath(n).parts
                  or PurePosixPath(n).is_absolute()]
        if len(tops) != 1 or unsafe:
            raise BundleError(f"{pack_zip} is not a model pack: it must hold one bundle folder")
        try:
            archive.extractall(tmp)
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            raise BundleError(f"{pack_zip} is damaged ({err}): download or copy it again; "
                              "nothing was installed") from None
        staged = Path(tmp) / tops.pop()
        bundle = load_bundle(staged)
        target = models_dir / staged.name
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    _cache.clear()
    return target, bundle


def cached_model(bundle_dir=None, providers=None, threads=None, search_dirs=()):
    """A loaded model (see `encoders.load_model`), reused while its files are unchanged."""
    from .encoders import load_model

    folder = Path(bundle_dir) if bundle_dir else default_bundle_dir(search_dirs)
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
