"""Band names of the sensors the bundles know, shared by the plugin and the training package.

Kept free of GDAL so that the training environment (which has none) can import it too.
"""

# Sentinel-2 L1C has 13 bands; L2A products (and encoders trained on them) drop the cirrus B10.
SENTINEL2_L1C = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")
SENTINEL2_L2A = tuple(name for name in SENTINEL2_L1C if name != "B10")
