"""Inference engine of TerraLens: bundles, tokenizers, encoders, rasters, jobs; no QGIS, torch."""
