"""The plugin's icons and styles are where the code looks for them."""

from terralens.plugin.common.resources import ICON_PATH, PROVIDER_ID, RESOURCES_DIR, STYLE_DIR


def test_icons_and_styles_exist(repo_root):
    assert RESOURCES_DIR == repo_root / "resources"
    assert ICON_PATH.is_file() and ICON_PATH.suffix == ".png"
    assert (STYLE_DIR / "mask.qml").is_file()
    assert PROVIDER_ID == "terralens"
