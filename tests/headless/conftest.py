"""A throw-away QGIS profile with TerraLens installed and enabled, for qgis_process tests."""

import sys

import pytest


@pytest.fixture(scope="session")
def qgis_process(tmp_path_factory, repo_root):
    """qgis_process in a fresh profile where the plugin `terralens` is installed and enabled."""
    sys.path.insert(0, str(repo_root))
    from tools.headless import QgisProcess

    runner = QgisProcess(tmp_path_factory.mktemp("home"), repo_root)
    runner.enable_plugin()
    return runner
