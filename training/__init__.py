"""TerraLens training package: builds, trains, evaluates and exports encoders (torch side, never QGIS)."""
