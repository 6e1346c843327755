"""Inference engine of TerraLens: bundles, tokenizers, encoders, rasters, labels, index, masks. No QGIS, no torch."""
