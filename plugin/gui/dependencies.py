"""Is onnxruntime importable in QGIS's Python? If not: say so, offer to install it, in a task."""

import importlib.util
import shutil
import subprocess
import sys
import time
from pathlib import Path

from qgis.core import Qgis
from qgis.PyQt.QtWidgets import QPushButton

from ..core.onnx_session import INSTALL_HINT
from ..core.run_control import Cancelled
from .tasks import WorkTask, start

PACKAGE = "onnxruntime"
INSTALL_TIMEOUT_S = 900


def missing_packages():
    """Names of the Python packages TerraLens needs and cannot find (without importing them)."""
    return [name for name in (PACKAGE,) if importlib.util.find_spec(name) is None]


def qgis_python():
    """The Python interpreter QGIS embeds, as a path to run pip with.

    Inside QGIS `sys.executable` is often the QGIS program itself, so look for the interpreter
    of the running version in QGIS's Python prefix: Linux `/usr/bin/python3.X`, Windows
    (OSGeo4W) `...\\apps\\Python3X\\python.exe`, macOS
    `QGIS.app/Contents/MacOS/bin/python3`. A bare `python3` on the PATH may be another Python
    (pyenv, conda), so it is the last resort.
    """
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    executable = Path(sys.executable or "")
    candidates = []
    if executable.name.lower().startswith("python"):
        candidates.append(executable)
    for prefix in (Path(sys.prefix), Path(sys.base_prefix)):
        candidates += [prefix / "bin" / f"python{version}", prefix / "bin" / "python3",
                       prefix / "python.exe", prefix / "python3.exe"]
    candidates += [executable.parent / "bin" / "python3", executable.parent / "python3.exe",
                   executable.parent / "python.exe"]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    return shutil.which(f"python{version}") or shutil.which("python3") or "python3"


def numpy_pin():
    """Keep the numpy major version QGIS was built with (QGIS 3.22's modules need numpy 1)."""
    try:
        import numpy

        return f"numpy<{int(numpy.__version__.split('.')[0]) + 1}"
    except ImportError:
        return "numpy<2"


def install_command():
    """The pip command (a list) that installs onnxruntime for the current user."""
    return [qgis_python(), "-m", "pip", "install", "--user", PACKAGE, numpy_pin()]


def command_text(command=None):
    """`install_command()` as one line to paste into a terminal."""
    return " ".join(f'"{part}"' if (" " in part or "<" in part) else part
                    for part in (command or install_command()))


def missing_message():
    """The warning text: the core's install hint (the same words Processing shows) + command."""
    return f"{INSTALL_HINT}. To install it by hand, run: {command_text()}"


def warn_if_missing(iface):
    """Show a message-bar warning with an Install button when onnxruntime is missing.

    Returns:
        True when something is missing (the warning is shown), False when all is there.
    """
    if not missing_packages():
        return False
    bar = iface.messageBar()
    widget = bar.createMessage("TerraLens", missing_message())
    button = QPushButton("Install", widget)
    button.clicked.connect(lambda: install(iface, button))
    widget.layout().addWidget(button)
    bar.pushWidget(widget, Qgis.MessageLevel.Warning)
    return True


def run_pip(command, control=None, timeout_s=INSTALL_TIMEOUT_S):
    """Run pip, stopping it when `control` is cancelled; return its output.

    Raises:
        RuntimeError: pip failed or took longer than `timeout_s` (with the end of its output
            and the command to run by hand).
        Cancelled: the user cancelled the task.
    """
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            output, _ = process.communicate(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            cancelled = control is not None and control.is_cancelled and control.is_cancelled()
            if cancelled or time.monotonic() > deadline:
                process.kill()
                process.communicate()
                if cancelled:
                    raise Cancelled("pip was stopped") from None
                raise RuntimeError(f"pip took longer than {timeout_s} s; run by hand: "
                                   f"{command_text(command)}") from None
    if process.returncode != 0:
        raise RuntimeError(f"pip failed (exit {process.returncode}): {output.strip()[-400:]} "
                           f"Run by hand: {command_text(command)}")
    return output


def install(iface, button=None, command=None):
    """Install onnxruntime in a QgsTask; report success or failure on the message bar."""
    command = command or install_command()
    if button is not None:
        button.setEnabled(False)
    bar = iface.messageBar()

    def work(control):
        run_pip(command, control)
        return lambda: bar.pushMessage("TerraLens", "onnxruntime is installed: restart QGIS "
                                       "to use it.", Qgis.MessageLevel.Success, 0)

    def failed(message):
        bar.pushMessage("TerraLens", message, Qgis.MessageLevel.Critical, 0)
        if button is not None:
            button.setEnabled(True)

    return start(WorkTask("TerraLens: installing onnxruntime", work, failed))
