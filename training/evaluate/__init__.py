"""Evaluation of a bundle as the plugin runs it (QGIS venv: numpy, GDAL, onnxruntime; no torch)."""
