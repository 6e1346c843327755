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
