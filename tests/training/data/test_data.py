"""Training datasets read the real caption tables, class folders and GeoTIFFs correctly."""

import csv

import numpy as np
import pytest

from training.data.data import (
    CaptionDataset,
    DataError,
    GeoTiffTileDataset,
    ImageFolderDataset,
    class_caption,
    plain_class_name,
    read_caption_tsv,
)


def test_rsicd_aid_groups_five_captions_per_image(shared_data):
    train = read_caption_tsv(shared_data / "captions_rsicd_aid.tsv", split="train")
    test = read_caption_tsv(shared_data / "captions_rsicd_aid.tsv", split="test")
    assert (len(train), len(test)) == (8973, 1027)  # DATA.md's counts
    assert all(len(item.captions) == 5 for item in train)
    assert not {item.name for item in train} & {item.name for item in test}
    first = train[0]
    assert first.name == "aid/images/airport_1.webp" and first.scene_class == "Airport"
    assert first.path == shared_data / "aid" / "images" / "airport_1.webp"
    assert len({caption for item in train for caption in item.captions}) == 11833


def test_ucm_images_resolve_under_class_folders(shared_data):
    items = CaptionDataset.ucm("train", shared_data).items
    assert len(items) == 1890
    assert all(item.path.parent.name == item.scene_class for item in items)


def test_caption_dataset_loads_and_resizes_real_images(shared_data):
    dataset = CaptionDataset.rsicd_aid("test", shared_data)
    item = dataset[0]
    assert item["image"].shape == (150, 150, 3) and item["image"].dtype == np.uint8
    assert item["image"].std() > 5  # a real picture, not a blank
    assert len(item["captions"]) == 5
    small = CaptionDataset.rsicd_aid("test", shared_data, size=64)[0]["image"]
    assert small.shape == (64, 64, 3)
    assert abs(float(small.mean()) - float(item["image"].mean())) < 3


def write_tsv(path, rows, header=("split", "image", "scene_class", "caption")):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(header)
        writer.writerows(rows)


def test_user_tsv_with_image_root_groups_rows(tmp_path, shared_data):
    rows = [("train", "airport_1.webp", "Airport", "planes beside a terminal ."),
            ("train", "beach_1.webp", "Beach", "waves on yellow sand ."),
            ("train", "airport_1.webp", "Airport", "a runway ."),
            ("val", "beach_2.webp", "Beach", "kept out by the split filter .")]
    write_tsv(tmp_path / "mine.tsv", rows)
    items = read_caption_tsv(tmp_path / "mine.tsv", shared_data / "aid" / "images", "train")
    assert [item.name for item in items] == ["airport_1.webp", "beach_1.webp"]
    assert items[0].captions == ("planes beside a terminal .", "a runway .")
    assert len(read_caption_tsv(tmp_path / "mine.tsv", shared_data / "aid" / "images",
                                None)) == 3


def test_bad_tables_fail_clearly(tmp_path, shared_data):
    write_tsv(tmp_path / "cols.tsv", [("train", "a.webp", "x")], ("split", "image", "label"))
    with pytest.raises(DataError, match="lacks the column"):
        read_caption_tsv(tmp_path / "cols.tsv")
    write_tsv(tmp_path / "gone.tsv", [("train", "nowhere.webp", "X", "a caption .")])
    with pytest.raises(DataError, match="1 of 1 .* missing"):
        read_caption_tsv(tmp_path / "gone.tsv")
    with pytest.raises(DataError, match="no rows of split"):
        read_caption_tsv(tmp_path / "gone.tsv", split="test")
    with pytest.raises(DataError, match="not found"):
        read_caption_tsv(tmp_path / "absent.tsv")


def test_class_names_in_plain_words():
    assert plain_class_name("StorageTanks") == "storage tanks"
    assert plain_class_name("BareLand") == "bare land"
    assert plain_class_name("river_lake") == "river lake"
    assert plain_class_name("Airport") == "airport"
    assert class_caption("DenseResidential") == "a remote sensing image of a dense residential."


def test_image_folder_dataset_reads_class_subfolders(shared_data, tmp_path):
    dataset = ImageFolderDataset(shared_data / "rsscn7", size=32)
    assert len(dataset.classes) == 7 and len(dataset) == 2800
    item = dataset[len(dataset) - 1]
    assert item["image"].shape == (32, 32, 3)
    assert item["scene_class"] == dataset.classes[-1]
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(DataError, match="no images"):
        ImageFolderDataset(tmp_path)


def test_geotiff_tiles_carry_plausible_lon_lat(shared_data):
    index = shared_data / "scenes" / "satclip_s2" / "index.csv"
    with open(index, newline="") as handle:
        truth = {row["fn"]: (float(row["lon"]), float(row["lat"]))
                 for row in csv.DictReader(handle)}
    dataset = GeoTiffTileDataset(index, tile_size=128)
    assert len(dataset) == 4 * len(truth)  # 256 px rasters, 128 px tiles, no overlap
    for tile in dataset.tiles:
        lon, lat = truth[tile.path.name]
        # a 10 m, 256 px patch spans 2.56 km: tile centres lie within ~0.05 degrees of it
        assert abs(tile.lat - lat) < 0.05
        assert abs((tile.lon - lon + 180) % 360 - 180) < 0.05 / max(np.cos(np.radians(lat)), 0.1)
    item = dataset[0]
    assert item["image"].shape == (128, 128, 3) and item["image"].dtype == np.uint8
    assert 10 < item["image"].mean() < 250
    whole = GeoTiffTileDataset(index.parent / "patch_75123.tif")
    assert len(whole) == 1 and whole[0]["image"].shape == (256, 256, 3)
    assert abs(whole[0]["lat"] - truth["patch_75123.tif"][1]) < 0.02
    assert len(GeoTiffTileDataset(index.parent / "patch_75123.tif", tile_size=512)) == 0
