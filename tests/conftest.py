"""Fixtures shared by every test tier: where the repository and the real data are."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = REPO_ROOT / "tests" / "data"
SHARED_DATA = Path(os.environ.get("TERRALENS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def repo_root():
    """The checkout (the plugin folder)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data():
    """The real data folder (`../shared/data`); fail loudly rather than skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA}; set TERRALENS_SHARED_DATA")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny(repo_root):
    """Folder of the tiny random WordPiece test bundle (as a string, as QGIS takes paths)."""
    return str(repo_root / "tests" / "data" / "tiny-wordpiece")


@pytest.fixture(scope="session")
def ortho(shared_data):
    """Real drone orthophoto: 1243 x 841 RGBA, 2 cm, EPSG:32633."""
    return str(shared_data / "scenes" / "ortho_drone_small.tif")


@pytest.fixture(scope="session")
def spacenet(shared_data):
    """Real SpaceNet Atlanta tile: 900 x 900, 1 band UInt16, 0.5 m, EPSG:32616."""
    return str(shared_data / "scenes" / "spacenet_atlanta_pan.tif")
