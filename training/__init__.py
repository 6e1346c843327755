"""TerraLens training package: trains, evaluates and exports encoders (torch side, never QGIS)."""
