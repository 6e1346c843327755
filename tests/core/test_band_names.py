"""Sentinel-2 band names: L2A is L1C without the cirrus band, in the products' order."""

from terralens.plugin.core.band_names import SENTINEL2_L1C, SENTINEL2_L2A


def test_l2a_is_l1c_without_b10_in_order():
    assert len(SENTINEL2_L1C) == 13 and len(SENTINEL2_L2A) == 12
    assert "B10" not in SENTINEL2_L2A
    assert [b for b in SENTINEL2_L1C if b != "B10"] == list(SENTINEL2_L2A)
    assert SENTINEL2_L2A.index("B8A") == SENTINEL2_L2A.index("B8") + 1
    assert SENTINEL2_L2A[1:4] == ("B2", "B3", "B4")  # blue, green, red
