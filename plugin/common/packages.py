"""The Python package TerraLens needs (onnxruntime), kept in a folder it owns in the QGIS profile.

`pip install --user` is refused by externally managed Pythons (PEP 668: Debian 12, Ubuntu 23.04
and later, Fedora) and changes packages for every program of the user; installing into the
system needs root. So TerraLens installs onnxruntime with `pip install --target` into
`<profile>/python/terralens-packages`, which survives plugin upgrades, and puts that folder on
`sys.path` when the plugin loads (in the desktop and under qgis_process), after QGIS's own
folders: QGIS's numpy and GDAL always win. onnxruntime is installed without its dependencies
(`--no-deps`): only numpy is needed to run models, and QGIS's numpy is used when it is recent
enough; otherwise a numpy of the same major version is installed too and the folder goes first.
"""

import importlib
import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from qgis.core import QgsApplication

REQUIREMENT = "onnxruntime>=1.17,<1.24"  # the range requirements/qgis.txt tests with
FOLDER_NAME = "terralens-packages"
MARKER = "TERRALENS.json"  # what was installed, for which Python, and where it goes on sys.path
OK, MISSING, BROKEN = "ok", "missing", "broken"


@dataclass
class DependencyStatus:
    """Whether onnxruntime can be used, and if not, why (one line)."""

    state: str
    detail: str = ""
    version: str = ""

    @property
    def ok(self):
        return self.state == OK


def packages_dir():
    """`<profile>/python/terralens-packages` of the running QGIS profile."""
    return Path(QgsApplication.qgisSettingsDirPath()) / "python" / FOLDER_NAME


def read_marker(folder=None):
    """The install record of the packages folder ({} when there is none or it is unreadable)."""
    try:
        return json.loads((Path(folder or packages_dir()) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def activate(folder=None):
    """Put the packages folder on `sys.path` (once; first only when it holds its own numpy).

    Returns:
        the folder's path as a string, or None when it does not exist yet.
    """
    folder = Path(folder or packages_dir())
    if not folder.is_dir():
        return None
    entry = str(folder)
    if entry not in sys.path:
        if read_marker(folder).get("numpy"):
            sys.path.insert(0, entry)
        else:
            sys.path.append(entry)
    importlib.invalidate_caches()
    return entry


def _find(name):
    """The import spec of `name`, or None when Python cannot import it (never raises)."""
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError, AttributeError):  # e.g. sys.modules[name] is None
        return None


def status():
    """Import onnxruntime to see whether it works here (missing, or present but broken)."""
    if _find("onnxruntime") is None:
        return DependencyStatus(MISSING, "onnxruntime is not installed")
    try:
        import onnxruntime

        onnxruntime.get_available_providers()  # loads the native library
    except Exception as err:  # ImportError, OSError (a wheel for another Python or system)
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        where = getattr(_find("onnxruntime"), "origin", "") or ""
        return DependencyStatus(BROKEN, f"onnxruntime in {Path(where).parent} does not import "
                                        f"in QGIS's Python {python_version()}: {first}")
    return DependencyStatus(OK, version=getattr(onnxruntime, "__version__", ""))


def python_version():
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def qgis_python():
    """QGIS's own Python interpreter as a path, or None when it cannot be found.

    Inside QGIS `sys.executable` is unreliable (Linux: the first `python3` on PATH, which may be
    pyenv's or conda's), so the interpreter is looked for in QGIS's Python prefix and accepted
    only when it reports the very same `sys.version` as the running Python.
    """
    for candidate in _interpreter_candidates():
        if candidate.is_file() and _same_python(candidate):
            return str(candidate)
    return None


def _interpreter_candidates():
    version = python_version()
    candidates = []
    for prefix in dict.fromkeys((Path(sys.base_prefix), Path(sys.prefix),
                                 Path(sys.exec_prefix))):
        candidates += [prefix / "bin" / f"python{version}", prefix / "bin" / "python3",
                       prefix / "python.exe", prefix / "python3.exe"]
        for parent in prefix.parents:  # macOS bundle: QGIS.app/Contents/MacOS/bin/python3
            if parent.name == "Contents":
                candidates.append(parent / "MacOS" / "bin" / "python3")
    return candidates


def _same_python(candidate):
    try:
        result = subprocess.run([str(candidate), "-c", "import sys; print(sys.version)"],
                                capture_output=True, text=True, timeout=30,
                                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0 and result.stdout.strip() == sys.version.strip()


def numpy_major():
    """The major version of the numpy QGIS runs with (None when QGIS has none)."""
    try:
        import numpy

        return int(numpy.__version__.split(".")[0])
    except (ImportError, ValueError):
        return None


def pip_command(python, target, requirements=(REQUIREMENT,)):
    """The pip call that installs `requirements` (without dependencies) into `target`."""
    return [python, "-m", "pip", "install", "--no-deps", "--no-warn-script-location",
            "--disable-pip-version-check", "--upgrade", "--target", str(target),
            *requirements]


def command_text(command):
    """A command as one line to paste into a terminal (quoted where the shell needs it)."""
    special = set(" <>|&;()'\"$%*?[]{}")
    return " ".join(f'"{part}"' if set(part) & special or not part else part
                    for part in command)


def manual_command():
    """The one command that installs what TerraLens needs by hand, as text."""
    python = qgis_python() or ("python" if sys.platform == "win32" else "python3")
    return command_text(pip_command(python, packages_dir()))


def missing_message(current=None):
    """What to tell the user when onnxruntime is missing or broken (the same text everywhere)."""
    current = current or status()
    if current.ok:
        return ""
    where = "in the OSGeo4W Shell" if sys.platform == "win32" else "in a terminal"
    return (f"TerraLens needs the Python package onnxruntime to run its models "
            f"({current.detail}). Click Install in the TerraLens message in QGIS, or {where} "
            f"run: {manual_command()}")
