"""Fixtures of the Processing tests: the TerraLens provider registered in an offscreen QGIS."""

import pytest

import terralens


@pytest.fixture(scope="module")
def provider(qgis_app):
    """Register the provider for a test module (as QGIS does at start), remove it after."""
    plugin = terralens.classFactory(None)
    plugin.initProcessing()
    yield plugin.provider
    plugin.unload()
