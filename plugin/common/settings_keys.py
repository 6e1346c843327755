"""QgsSettings keys TerraLens keeps under `terralens/`, read by both the GUI and Processing."""

from pathlib import Path

from qgis.core import QgsApplication, QgsSettings

DEFAULT_BUNDLE = "terralens/default_bundle"
EXTRA_BUNDLE_DIRS = "terralens/extra_bundle_dirs"
BATCH_SIZE = "terralens/batch_size"
DEVICE = "terralens/device"


def default_bundle_setting():
    """The model bundle folder chosen as default in the model manager, or None (embedded)."""
    return QgsSettings().value(DEFAULT_BUNDLE, "", type=str) or None


def user_models_dir():
    """Where model packs are installed: the QGIS profile's `terralens/models` folder (it
    survives plugin upgrades, which replace the plugin folder)."""
    return Path(QgsApplication.qgisSettingsDirPath()) / "terralens" / "models"
