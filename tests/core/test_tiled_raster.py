"""Tile settings resolved against a bundle, and rasters opened for a model with them."""

from terralens.plugin.core.tiled_raster import TileSettings, open_tiled


def test_s2_encoder_reads_its_bands_at_its_own_gsd(sensors, shared_data):
    s2_path = shared_data / "scenes" / "satclip_s2" / "patch_25630.tif"
    tiled = open_tiled(s2_path, sensors, TileSettings(tile_size=64))
    assert tiled.encoder.spec.name == "s2"
    assert tiled.source.bands == list(range(1, 13))
    assert tiled.tile_px == 64  # 64 model pixels at the encoder's 10 m on a 10 m raster
    rgb = open_tiled(s2_path, sensors, TileSettings(tile_size=64, encoder="rgb"))
    assert rgb.encoder.spec.name == "rgb" and rgb.source.bands == [1, 2, 3]
