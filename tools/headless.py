"""Run qgis_process in a throw-away QGIS profile where the TerraLens checkout is installed."""

import json
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

# Debian's /usr/bin/qgis_process wrapper passes --noversioncheck, which 3.22's binary rejects.
QGIS_PROCESS = shutil.which("qgis_process.bin") or shutil.which("qgis_process")
PLUGINS_DIR = ".local/share/QGIS/QGIS3/profiles/default/python/plugins"


class QgisProcess:
    """qgis_process with HOME pointing at a profile holding the plugin `terralens`."""

    def __init__(self, home, repo_root):
        if QGIS_PROCESS is None:
            raise FileNotFoundError("qgis_process not found: run `make setup` (it installs QGIS)")
        self.home = Path(home)
        plugins = self.home / PLUGINS_DIR
        plugins.mkdir(parents=True, exist_ok=True)
        link = plugins / "terralens"
        if not link.exists():
            link.symlink_to(Path(repo_root).resolve(), target_is_directory=True)
        self.env = dict(os.environ, HOME=str(self.home), QT_QPA_PLATFORM="offscreen")
        # QGIS's embedded Python must see the venv's onnxruntime, as a user's QGIS sees the
        # packages installed into its user site.
        venv_site = sysconfig.get_paths()["purelib"]
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (venv_site, os.environ.get("PYTHONPATH", "")) if p)

    def run(self, *args, timeout=600, check=True):
        """Run `qgis_process ARGS`; raise with its output when it fails and `check` is set."""
        result = subprocess.run([QGIS_PROCESS, *args], env=self.env, cwd=str(self.home),
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"qgis_process {' '.join(args)} failed ({result.returncode}):\n"
                               f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def run_json(self, *args, **kwargs):
        """Run with --json and parse the JSON it prints."""
        result = self.run("--json", *args, **kwargs)
        return json.loads(result.stdout[result.stdout.index("{"):])

    def enable_plugin(self):
        self.run("plugins", "enable", "terralens")
