"""Training data: caption, class-folder and GeoTIFF datasets, compact packs, GPU augmentation."""
