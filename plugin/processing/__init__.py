"""Processing provider and algorithms of TerraLens: translate QGIS parameters into core calls."""
