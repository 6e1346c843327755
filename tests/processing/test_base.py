"""What every algorithm shares: the model chosen in the settings, the tiling parameters."""

from qgis.core import QgsSettings

import terralens
from terralens.plugin.common.settings_keys import DEFAULT_BUNDLE


def test_processing_uses_the_default_bundle_setting(clean_qgis_state, tiny, spacenet,
                                                    tmp_path):
    QgsSettings().setValue(DEFAULT_BUNDLE, tiny)
    import processing

    from terralens.plugin.core.outputs import read_metadata

    plugin = terralens.classFactory(None)
    plugin.initProcessing()
    try:
        result = processing.run("terralens:textsearch", {
            "INPUT": [spacenet], "QUERY": "roads", "K": 3, "TILE_SIZE": 128,
            "OUTPUT": str(tmp_path / "hits.gpkg")})
    finally:
        plugin.unload()
    assert read_metadata(result["OUTPUT"])["model_id"] == "tiny-wordpiece"
