"""The bundle.json schema: reading, writing, checks and their messages."""

from terralens.plugin.core.band_names import SENTINEL2_L2A


def test_bundle_lists_every_encoder(sensors):
    assert list(sensors.images) == ["rgb", "pan", "s2"]
    assert sensors.image is sensors.images["rgb"]
    assert sensors.images["s2"].spec.bands == list(SENTINEL2_L2A)
    assert sensors.location is not None
