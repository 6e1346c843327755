"""The `terralens` Processing provider: its id, name, icon and algorithms."""

from qgis.core import QgsApplication

import terralens


def test_provider_metadata(qgis_app):
    plugin = terralens.classFactory(None)
    plugin.initProcessing()
    try:
        provider = QgsApplication.processingRegistry().providerById("terralens")
        assert provider.name() == "TerraLens"
        assert not provider.icon().isNull()
        # the toolbox offers only the formats TerraLens writes
        assert provider.supportedOutputVectorLayerExtensions() == [
            "gpkg", "shp", "geojson", "json", "fgb", "sqlite"]
        assert provider.supportedOutputRasterLayerExtensions() == ["tif", "tiff"]
        assert not provider.supportsNonFileBasedOutput()
    finally:
        plugin.unload()
