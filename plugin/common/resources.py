"""Where the plugin's icons and layer styles are, and the provider id its algorithms carry."""

from pathlib import Path

PROVIDER_ID = "terralens"
RESOURCES_DIR = Path(__file__).resolve().parents[2] / "resources"
ICON_PATH = RESOURCES_DIR / "icon.png"
STYLE_DIR = RESOURCES_DIR / "styles"
