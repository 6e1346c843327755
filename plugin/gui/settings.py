"""The user's TerraLens settings in QgsSettings (`terralens/`): models, batch size, device."""

from dataclasses import dataclass, field

from qgis.core import QgsSettings

from ..common.settings_keys import BATCH_SIZE, DEFAULT_BUNDLE, DEVICE, EXTRA_BUNDLE_DIRS

DEVICES = ("cpu", "auto")  # "auto": CUDA when onnxruntime has it, else the CPU
DEFAULT_BATCH_SIZE = 16


@dataclass
class Settings:
    """What the user chose; empty `default_bundle` means the embedded model.

    Attributes:
        default_bundle: model bundle folder used when none is given ("" for the embedded one).
        extra_bundle_dirs: folders holding bundles (or being one), shown in the model manager.
        batch_size: tiles encoded together.
        device: "cpu" or "auto".
    """

    default_bundle: str = ""
    extra_bundle_dirs: list = field(default_factory=list)
    batch_size: int = DEFAULT_BATCH_SIZE
    device: str = "cpu"

    @property
    def providers(self):
        """The onnxruntime providers argument of `registry.cached_model`."""
        return "auto" if self.device == "auto" else None

    @property
    def bundle_dir(self):
        """The default bundle folder, or None for the embedded model."""
        return self.default_bundle or None


def load_settings():
    """The stored settings (defaults for anything never set)."""
    store = QgsSettings()
    device = store.value(DEVICE, "cpu", type=str)
    return Settings(
        default_bundle=store.value(DEFAULT_BUNDLE, "", type=str),
        extra_bundle_dirs=[d for d in store.value(EXTRA_BUNDLE_DIRS, [], type=list) if d],
        batch_size=max(1, store.value(BATCH_SIZE, DEFAULT_BATCH_SIZE, type=int)),
        device=device if device in DEVICES else "cpu")


def save_settings(settings):
    """Store `settings` (every field)."""
    if settings.device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {settings.device!r}")
    store = QgsSettings()
    store.setValue(DEFAULT_BUNDLE, str(settings.default_bundle or ""))
    store.setValue(EXTRA_BUNDLE_DIRS, [str(d) for d in settings.extra_bundle_dirs])
    store.setValue(BATCH_SIZE, int(settings.batch_size))
    store.setValue(DEVICE, settings.device)
