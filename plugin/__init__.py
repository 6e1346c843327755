"""TerraLens plugin code: core (no QGIS), processing (qgis.core) and gui (qgis.gui)."""
