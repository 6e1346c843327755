"""Headless: the plugin installs into a fresh profile and qgis_process lists its provider."""


def test_plugin_is_enabled(qgis_process):
    result = qgis_process.run("plugins")
    enabled = [line for line in result.stdout.splitlines() if line.startswith("*")]
    assert any("terralens" in line for line in enabled), result.stdout


def test_provider_listed_in_json(qgis_process):
    listing = qgis_process.run_json("list")
    assert "terralens" in listing["providers"]
    assert listing["providers"]["terralens"]["name"] == "TerraLens"
