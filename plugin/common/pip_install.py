"""Install onnxruntime into the packages folder: pip into a staging sibling, check, then swap.

Nothing half-installed is ever left where the plugin looks: pip writes into a hidden staging
folder beside `terralens-packages`, the result must import in QGIS's Python (a subprocess of the
same interpreter), and only then does it replace the folder, by renames.
"""

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..core.run_control import Cancelled, RunControl
from .packages import (
    MARKER,
    REQUIREMENT,
    activate,
    command_text,
    manual_command,
    numpy_major,
    packages_dir,
    pip_command,
    qgis_python,
)

PIP_TIMEOUT_S = 900
# pip's lines that say what went wrong, most telling first
ERROR_PATTERNS = (r"No module named pip", r"^ERROR: .*", r"^error: .*",
                  r"Could not fetch URL.*", r"Failed to establish a new connection.*")


class InstallError(RuntimeError):
    """The install failed: `str()` is one line for the message bar, `details` all pip said."""

    def __init__(self, message, details=""):
        super().__init__(message)
        self.details = details


def install(control=None, python=None, folder=None):
    """Install onnxruntime (and numpy only if QGIS's is too old) into the packages folder.

    Args:
        control: RunControl for progress and cancel (pip is stopped on cancel).
        python: the interpreter to run pip with (default: QGIS's own, `qgis_python()`).
        folder: the packages folder (default: the profile's `terralens-packages`).

    Returns:
        the install record (versions, Python, requirement), also saved in the folder.

    Raises:
        InstallError: pip or the check failed (nothing changed); Cancelled: the user stopped.
    """
    control = control or RunControl()
    python = python or qgis_python()
    if python is None:
        raise InstallError("QGIS's Python interpreter was not found next to QGIS, so TerraLens "
                           f"cannot run pip: run by hand {manual_command()}")
    folder = Path(folder or packages_dir())
    staging = folder.with_name(f".{folder.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        control.report(0.05, "Downloading onnxruntime")
        run_pip(pip_command(python, staging), control)
        numpy_spec = numpy_to_install(staging)
        if numpy_spec:
            control.report(0.6, "Downloading numpy")
            run_pip(pip_command(python, staging, [numpy_spec]), control)
        control.report(0.85, "Checking that it imports")
        record = check_import(python, staging, prepend=bool(numpy_spec))
        record.update(requirement=REQUIREMENT, numpy_installed=numpy_spec or "")
        (staging / MARKER).write_text(json.dumps(record, indent=1), encoding="utf-8")
        replace_folder(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    activate(folder)
    control.report(1.0, "")
    return record


def run_pip(command, control=None, timeout_s=PIP_TIMEOUT_S):
    """Run a pip command, stopping it on cancel; return its output or raise InstallError."""
    control = control or RunControl()
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True,
                                   creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
    except OSError as err:
        raise InstallError(f"could not start {command[0]} ({err}): run by hand "
                           f"{manual_command()}") from None
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            output, _ = process.communicate(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if control.is_cancelled is not None and control.is_cancelled():
                _stop(process)
                raise Cancelled("pip was stopped") from None
            if time.monotonic() > deadline:
                _stop(process)
                raise InstallError(f"pip took longer than {timeout_s} s: run by hand "
                                   f"{manual_command()}") from None
    if process.returncode != 0:
        raise InstallError(f"pip failed: {first_error_line(output)}. Run by hand: "
                           f"{manual_command()}", details=f"{command_text(command)}\n{output}")
    return output


def _stop(process):
    process.kill()
    process.communicate()


def first_error_line(output):
    """The line of pip's output that says what went wrong (whole, never cut mid-word)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for pattern in ERROR_PATTERNS:
        for line in lines:
            if re.search(pattern, line):
                return line
    return lines[-1] if lines else "no output"


def numpy_to_install(staging):
    """A numpy requirement when QGIS's numpy does not satisfy onnxruntime's, else ""."""
    needed = numpy_requirement(staging)
    major = numpy_major()
    have = _numpy_version()
    if have is not None and satisfies(have, needed):
        return ""
    pin = f"<{major + 1}" if major is not None else ""
    return "numpy" + ",".join(part for part in (needed, pin) if part)


def numpy_requirement(staging):
    """The numpy version specifier onnxruntime's metadata asks for (e.g. ">=1.21.6")."""
    for metadata in Path(staging).glob("onnxruntime*.dist-info/METADATA"):
        for line in metadata.read_text(encoding="utf-8", errors="replace").splitlines():
            match = re.match(r"Requires-Dist:\s*numpy\s*\(?([^;)]*)", line)
            if match:
                return match.group(1).strip()
    return ""


def _numpy_version():
    try:
        import numpy

        return numpy.__version__
    except ImportError:
        return None


def satisfies(version, specifier):
    """Whether `version` meets a simple specifier such as ">=1.21.6,<3" (numeric parts)."""
    def numbers(text):
        return tuple(int(n) for n in re.findall(r"\d+", text)[:3])

    checks = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
              "<": lambda a, b: a < b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
    for part in filter(None, (p.strip() for p in specifier.split(","))):
        operator = re.match(r"(>=|<=|==|!=|>|<)", part)
        if operator and not checks[operator.group(1)](numbers(version),
                                                      numbers(part[operator.end():])):
            return False
    return True


def check_import(python, staging, prepend=False):
    """Import onnxruntime from `staging` in a fresh QGIS Python; return what it reports."""
    where = "sys.path.insert(0, {!r})" if prepend else "sys.path.append({!r})"
    code = ("import json, sys; " + where.format(str(staging)) + "; import numpy, onnxruntime; "
            "onnxruntime.get_available_providers(); print(json.dumps({'onnxruntime': "
            "onnxruntime.__version__, 'numpy': numpy.__version__, 'python': "
            "'%d.%d' % sys.version_info[:2]}))")
    result = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120,
                            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
    if result.returncode != 0:
        raise InstallError("the onnxruntime pip installed does not import in QGIS's Python: "
                           f"{first_error_line(result.stderr)}", details=result.stderr)
    record = json.loads(result.stdout.strip().splitlines()[-1])
    record["numpy"] = record["numpy"] if prepend else ""  # the folder's own numpy, if any
    return record


def replace_folder(staging, folder):
    """Put `staging` where `folder` is, by renames (the old folder is removed only after)."""
    old = folder.with_name(f".{folder.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        try:
            folder.rename(old)
        except OSError as err:  # Windows: a loaded onnxruntime DLL keeps the folder busy
            raise InstallError(f"{folder} is in use ({err}): restart QGIS, then click Install "
                               "again") from None
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    if str(folder) in sys.path:  # same path, new content
        sys.path_importer_cache.pop(str(folder), None)
