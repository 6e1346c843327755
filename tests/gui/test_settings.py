"""The user's TerraLens settings in QgsSettings."""


import pytest

from terralens.plugin.common.settings_keys import default_bundle_setting
from terralens.plugin.gui.settings import Settings, load_settings, save_settings


def test_settings_round_trip(qgis_app, tiny):
    assert load_settings() == Settings()
    chosen = Settings(default_bundle=tiny, extra_bundle_dirs=["/a", "/b c"], batch_size=7,
                      device="auto")
    save_settings(chosen)
    assert load_settings() == chosen
    assert load_settings().providers == "auto" and default_bundle_setting() == tiny
    save_settings(Settings(extra_bundle_dirs=["/only"]))
    assert load_settings().extra_bundle_dirs == ["/only"]
    with pytest.raises(ValueError, match="device"):
        save_settings(Settings(device="tpu"))
