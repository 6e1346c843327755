"""Run qgis_process, or QGIS in a window under Xvfb, in a throw-away profile holding TerraLens."""

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
    """qgis_process with HOME pointing at a profile holding the plugin `terralens`.

    With `venv_packages` QGIS's Python also sees the test venv's packages (onnxruntime) through
    PYTHONPATH; without it QGIS runs as a user's does, with the plugin's own packages folder.
    """

    def __init__(self, home, repo_root, venv_packages=True):
        if QGIS_PROCESS is None:
            raise FileNotFoundError("qgis_process not found: run `make setup` (it installs QGIS)")
        self.home = Path(home)
        self.plugins = self.home / PLUGINS_DIR
        self.plugins.mkdir(parents=True, exist_ok=True)
        link = self.plugins / "terralens"
        if not link.exists():
            link.symlink_to(Path(repo_root).resolve(), target_is_directory=True)
        self.env = dict(os.environ, HOME=str(self.home), QT_QPA_PLATFORM="offscreen",
                        XDG_RUNTIME_DIR=str(self.home / "run"))
        self.env.pop("PYTHONPATH", None)
        if venv_packages:
            self.env["PYTHONPATH"] = os.pathsep.join(
                p for p in (sysconfig.get_paths()["purelib"], os.environ.get("PYTHONPATH", ""))
                if p)

    @property
    def profile(self):
        return self.plugins.parent.parent

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

    def run_window(self, script, timeout=300):
        """Start QGIS in a window under Xvfb with the plugin enabled and run `script` in it
        (`qgis.bin --code`); return the finished process (the script ends QGIS itself)."""
        ini = self.profile / "QGIS" / "QGIS3.ini"
        ini.parent.mkdir(parents=True, exist_ok=True)
        ini.write_text("[PythonPlugins]\nterralens=true\n\n[qgis]\ncheckVersion=false\n"
                       "showTips=false\n")
        env = dict(self.env)
        env.pop("QT_QPA_PLATFORM")
        return subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1400x900x24", "qgis.bin",
                               "--nologo", "--noversioncheck", "--code", str(script)],
                              env=env, cwd=str(self.home), capture_output=True, text=True,
                              timeout=timeout)
