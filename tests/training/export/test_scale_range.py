"""The range of scales the exporter writes: derived from the training data, or given."""

import json
import shutil

from terralens.plugin.core.bundle import Bundle
from training.export import export
from training.export.scale_range import evaluated_gsd, scale_spec, trained_gsd


def test_ranges_follow_the_datasets_crops_and_input_size():
    # AID: 600 px at 0.5-8 m, crops of 0.55-1 of the area, 128 px input
    assert trained_gsd("rsicd-aid:train", 128, [0.55, 1.0]) == [1.74, 37.5]
    assert trained_gsd("rsicd-aid:train", 256, [1.0, 1.0]) == [1.17, 18.8]
    # UC Merced 256 px at 0.3 m and RSSCN7 400 px at about 0.26-1.9 m, whole images
    assert evaluated_gsd(128) == [0.6, 5.94]
    assert trained_gsd("my-own-data", 128) is None
    assert scale_spec("my-own-data", 128, [0.55, 1.0]) is None
    spec = scale_spec("rsicd-aid:train", 128, [0.55, 1.0], max_upsampling=1.5)
    assert spec.gsd_range_m == [0.6, 37.5] and spec.max_upsampling == 1.5
    assert "AID" in spec.source and "RSSCN7" in spec.source


def test_scale_only_rewrites_the_default_bundles_scale(repo_root, tmp_path):
    source = repo_root / "models" / "terralens-effnet-minilm-v1" / "bundle.json"
    folder = tmp_path / "bundle"
    folder.mkdir()
    data = json.loads(source.read_text(encoding="utf-8"))
    committed = data.pop("scale")
    (folder / "bundle.json").write_text(json.dumps(data), encoding="utf-8")
    assert export.main(["--scale-only", "--max-upsampling", "1.5", "--out", str(folder)]) == 0
    written = (folder / "bundle.json").read_text(encoding="utf-8")
    assert json.loads(written)["scale"] == committed
    assert written == source.read_text(encoding="utf-8")  # byte for byte what is committed


def test_scale_only_needs_a_range_when_the_provenance_has_none(repo_root, tmp_path):
    folder = tmp_path / "byo"
    shutil.copytree(repo_root / "tests" / "data" / "tiny-clip", folder)
    assert export.main(["--scale-only", "--out", str(folder)]) == 1
    assert export.main(["--scale-only", "--gsd-range-m", "2", "0.3", "--out", str(folder)]) == 0
    bundle = Bundle.from_dict(json.loads((folder / "bundle.json").read_text(encoding="utf-8")))
    assert bundle.scale.gsd_range_m == [0.3, 2.0] and bundle.scale.max_upsampling == 2.0
