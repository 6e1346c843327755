"""Settings both Processing and the GUI read: the default bundle and the model-pack folder."""

from pathlib import Path

from qgis.core import QgsApplication, QgsSettings

from terralens.plugin.common.settings_keys import (
    DEFAULT_BUNDLE,
    default_bundle_setting,
    user_models_dir,
)


def test_default_bundle_is_none_until_chosen(clean_qgis_state, tiny):
    assert default_bundle_setting() is None
    QgsSettings().setValue(DEFAULT_BUNDLE, tiny)
    assert default_bundle_setting() == tiny


def test_model_packs_live_in_the_profile(qgis_app):
    profile = Path(QgsApplication.qgisSettingsDirPath())
    assert user_models_dir() == profile / "terralens" / "models"
