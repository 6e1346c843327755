"""A tiny pack of real images round-trips: images, captions, features, classes, coordinates."""

import numpy as np
import pytest

from training.data import pack as packing
from training.data.data import (
    CLASS_CAPTION_TEMPLATES,
    CaptionDataset,
    DataError,
    GeoTiffTileDataset,
    class_caption,
    load_rgb,
)
from training.model.model import EMBED_DIM, precompute_text_features

SIZE = 64


@pytest.fixture(scope="module")
def source(shared_data):
    """32 RSICD-on-AID train images spread over the classes."""
    dataset = CaptionDataset.rsicd_aid("train", shared_data)
    keep = np.linspace(0, len(dataset) - 1, 32).round().astype(int)
    dataset.items = [dataset.items[i] for i in keep]
    return dataset


@pytest.fixture(scope="module")
def built(source, tmp_path_factory):
    path = tmp_path_factory.mktemp("pack") / "tiny.pack"
    meta = packing.build_pack(source, path, size=SIZE, threads=2, source="test")
    return path, meta


def test_images_round_trip(source, built):
    path, meta = built
    pack = packing.PackDataset(path, threads=2)
    assert len(pack) == meta["count"] == 32 and pack.size == SIZE
    assert pack.images.shape == (32, SIZE, SIZE, 3) and pack.images.dtype == np.uint8
    assert pack.names == [item.name for item in source.items]
    for slot in (0, 17, 31):
        original = load_rgb(source.items[slot].path, SIZE).astype(np.float32)
        assert np.abs(pack.images[slot] - original).mean() < 6  # WebP q80 is close


def test_captions_features_and_classes_round_trip(source, built):
    path, _ = built
    pack = packing.PackDataset(path, threads=1)
    for slot, item in enumerate(source.items):
        assert [pack.captions[row] for row in pack.captions_of(slot)] == list(item.captions)
        with_class = pack.captions_of(slot, class_captions=True)
        assert len(with_class) == len(item.captions) + 1
        words = pack.captions[with_class[-1]]
        assert words.startswith("a remote sensing image of a ")
        assert pack.class_names[pack.class_ids[slot]] == item.scene_class
    assert pack.text_features.dtype == np.float16
    assert pack.text_features.shape == (len(pack.captions), EMBED_DIM)
    expected = precompute_text_features(pack.captions[:3])
    np.testing.assert_allclose(pack.text_features[:3].astype(np.float32), expected, atol=2e-3)
    offsets, rows = pack.caption_table(class_captions=True)
    assert offsets[-1] == len(rows) == sum(len(item.captions) + 1 for item in source.items)
    assert pack.lonlat is None


def test_every_class_caption_wording_is_packed(built):
    pack = packing.PackDataset(built[0], threads=1)
    rows = pack.class_template_rows
    assert rows.shape == (len(pack.class_names), len(CLASS_CAPTION_TEMPLATES))
    for class_id, name in enumerate(pack.class_names):
        texts = [pack.captions[row] for row in rows[class_id]]
        assert texts == [class_caption(name, t) for t in CLASS_CAPTION_TEMPLATES]
    # wording 0 is the class caption every image carries
    np.testing.assert_array_equal(pack.class_caption_index, rows[pack.class_ids, 0])


def test_limit_spreads_over_the_pack(built):
    pack = packing.PackDataset(built[0], limit=4)
    full = packing.PackDataset(built[0])
    keep = packing.spread_indices(32, 4)
    assert list(keep) == [0, 10, 21, 31]
    assert pack.names == [full.names[i] for i in keep]
    np.testing.assert_array_equal(pack.images, full.images[keep])
    for slot, index in enumerate(keep):
        np.testing.assert_array_equal(pack.captions_of(slot, True), full.captions_of(index, True))


def test_class_captions_can_be_left_out(source, tmp_path):
    small = CaptionDataset.__new__(CaptionDataset)
    small.items, small.size = source.items[:3], None
    fake = [np.ones(EMBED_DIM, np.float32)]
    meta = packing.build_pack(small, tmp_path / "plain.pack", size=32, class_captions=False,
                              encode_text=lambda texts: np.repeat(fake, len(texts), axis=0))
    pack = packing.PackDataset(tmp_path / "plain.pack")
    assert not any(c.startswith("a remote sensing image of") for c in meta["captions"])
    assert (pack.class_caption_index == -1).all() and pack.class_template_rows is None
    assert len(pack.captions_of(0, class_captions=True)) == 5


def test_geotiff_pack_keeps_coordinates_without_captions(shared_data, tmp_path):
    index = shared_data / "scenes" / "satclip_s2" / "index.csv"
    out = tmp_path / "s2.pack"
    packing.main(["--source", "geotiff", "--geotiff", str(index), "--size", "32",
                  "--out", str(out)])
    pack = packing.PackDataset(out)
    tiles = GeoTiffTileDataset(index)
    assert len(pack) == len(tiles) == 20
    np.testing.assert_allclose(pack.lonlat, [[t.lon, t.lat] for t in tiles.tiles], atol=1e-4)
    assert pack.text_features.shape[0] == 0 and len(pack.caption_table()[1]) == 0


def test_not_a_pack_fails_clearly(tmp_path):
    np.savez(tmp_path / "other.npz", meta=np.frombuffer(
        __import__("zlib").compress(b'{"format": "x"}'), np.uint8))
    with pytest.raises(DataError, match="not a TerraLens pack"):
        packing.PackDataset(tmp_path / "other.npz")
    with pytest.raises(DataError, match="not found"):
        packing.PackDataset(tmp_path / "absent.pack")
