"""A throw-away QGIS profile with TerraLens installed, and a helper that runs qgis_process in it."""

import json
import os
import shutil
import subprocess
import sysconfig

import pytest

# Debian's /usr/bin/qgis_process wrapper passes --noversioncheck, which 3.22's binary rejects.
QGIS_PROCESS = shutil.which("qgis_process.bin") or shutil.which("qgis_process")


class QgisProcess:
    """Runs `qgis_process` with HOME pointing at a temporary profile."""

    def __init__(self, home, repo_root):
        self.env = dict(os.environ, HOME=str(home), QT_QPA_PLATFORM="offscreen")
        # QGIS's embedded Python must see the venv's onnxruntime, as a user's QGIS sees the
        # packages installed into its user site.
        venv_site = sysconfig.get_paths()["purelib"]
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (venv_site, os.environ.get("PYTHONPATH", "")) if p)
        self.cwd = str(home)

    def run(self, *args, timeout=300, check=True):
        result = subprocess.run([QGIS_PROCESS, *args], env=self.env, cwd=self.cwd,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"qgis_process {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def run_json(self, *args, **kwargs):
        result = self.run("--json", *args, **kwargs)
        return json.loads(result.stdout[result.stdout.index("{"):])


@pytest.fixture(scope="session")
def qgis_process(tmp_path_factory, repo_root):
    """qgis_process in a fresh profile where the plugin `terralens` is installed and enabled."""
    if QGIS_PROCESS is None:
        pytest.fail("qgis_process not found: run `make setup` (it installs QGIS from Debian)")
    home = tmp_path_factory.mktemp("home")
    plugins = home / ".local/share/QGIS/QGIS3/profiles/default/python/plugins"
    plugins.mkdir(parents=True)
    (plugins / "terralens").symlink_to(repo_root, target_is_directory=True)
    runner = QgisProcess(home, repo_root)
    runner.run("plugins", "enable", "terralens")
    return runner
