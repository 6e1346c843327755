"""The jobs as one API: zero-shot labels, a cached search index with queries, prompt masks,
labels from examples.

Every job takes a loaded model (`encoders.load_model`), a raster path, `TileSettings` and a
`RunControl` (progress and cancel callbacks), writes its outputs atomically and returns a
summary dict. Processing algorithms and GUI tasks only translate their inputs into these calls.
"""

from .example_search import search_by_example
from .examples import ExampleSet, LabelOptions, label_from_examples
from .indexing import IndexedRaster, index_key, index_raster, index_rasters
from .label import label_raster
from .mask import prompt_mask
from .records import model_fingerprint, provenance
from .text_search import search, write_heatmap

__all__ = ["ExampleSet", "IndexedRaster", "LabelOptions", "index_key", "index_raster",
           "index_rasters", "label_from_examples", "label_raster", "model_fingerprint",
           "prompt_mask", "provenance", "search", "search_by_example", "write_heatmap"]
