"""The bundle.json schema: reading, writing, checks and their messages."""

import json

import pytest

from terralens.plugin.core import transductive
from terralens.plugin.core.band_names import SENTINEL2_L2A
from terralens.plugin.core.bundle import Bundle, BundleError, ScaleSpec, save_bundle


def test_bundle_lists_every_encoder(sensors):
    assert list(sensors.images) == ["rgb", "pan", "s2"]
    assert sensors.image is sensors.images["rgb"]
    assert sensors.images["s2"].spec.bands == list(SENTINEL2_L2A)
    assert sensors.location is not None


def default_bundle_json(repo_root):
    path = repo_root / "models" / "terralens-effnet-minilm-v1" / "bundle.json"
    return path.read_text(encoding="utf-8")


def test_default_bundle_records_its_scales_in_the_writers_own_form(repo_root, tmp_path):
    text = default_bundle_json(repo_root)
    bundle = Bundle.from_dict(json.loads(text))
    assert bundle.schema_version == 4
    assert bundle.scale.gsd_range_m == [0.6, 37.5] and bundle.scale.max_upsampling == 1.5
    assert bundle.scale.trained_gsd_m == [1.74, 37.5]
    assert bundle.scale.evaluated_gsd_m == [0.6, 5.94]
    assert (save_bundle(bundle, tmp_path).read_text(encoding="utf-8")) == text


def older_bundle(repo_root, missing_key, schema_version):
    """The default bundle as one of an older schema, without the key that schema lacked."""
    data = json.loads(default_bundle_json(repo_root))
    del data[missing_key]
    data["schema_version"] = schema_version
    return Bundle.from_dict(data)


def written_keys(bundle, folder):
    return json.loads(save_bundle(bundle, folder).read_text(encoding="utf-8"))


def test_a_bundle_without_scales_reads_and_writes_without_them(repo_root, tmp_path):
    bundle = older_bundle(repo_root, "scale", 2)
    assert bundle.scale is None
    assert "scale" not in written_keys(bundle, tmp_path)


@pytest.mark.parametrize("scale, message", [
    ({"gsd_range_m": [5.0, 1.0]}, "scale.gsd_range_m must be [finest, coarsest]"),
    ({"gsd_range_m": [0.0, 1.0]}, "two positive numbers"),
    ({"gsd_range_m": [1.0]}, "scale.gsd_range_m"),
    ({"gsd_range_m": [1.0, 2.0], "max_upsampling": 0.5}, "max_upsampling must be at least 1"),
    ({"gsd_range_m": [1.0, 2.0], "trained_gsd_m": [3, 2]}, "scale.trained_gsd_m"),
    ({"gsd_range_m": [1.0, 2.0], "tiles": 3}, "section 'scale'"),
])
def test_bad_scales_are_refused_with_the_key(repo_root, scale, message):
    data = json.loads(default_bundle_json(repo_root))
    data["scale"] = scale
    with pytest.raises(BundleError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Bundle.from_dict(data)


def test_scale_spec_defaults_to_at_most_twice_enlarged():
    assert ScaleSpec(gsd_range_m=[1.0, 2.0]).max_upsampling == 2.0


def test_the_default_bundle_records_its_refined_score_temperature(repo_root):
    bundle = Bundle.from_dict(json.loads(default_bundle_json(repo_root)))
    assert bundle.refine_score_temperature == 2.6
    assert transductive.settings_for(bundle).score_temperature == 2.6


def test_a_schema_3_bundle_reads_without_a_temperature_and_gets_the_plugins(repo_root, tmp_path):
    bundle = older_bundle(repo_root, "refine_score_temperature", 3)
    assert bundle.refine_score_temperature is None
    assert transductive.settings_for(bundle) == transductive.RefineSettings()
    assert "refine_score_temperature" not in written_keys(bundle, tmp_path)
    bundle.refine_score_temperature = 1.7
    assert transductive.settings_for(bundle).score_temperature == 1.7


@pytest.mark.parametrize("value", [0, -1.0, "2.6", True, [2.6]])
def test_a_bad_refined_score_temperature_is_refused_with_the_key(repo_root, value):
    data = json.loads(default_bundle_json(repo_root))
    data["refine_score_temperature"] = value
    with pytest.raises(BundleError, match="refine_score_temperature must be a positive number"):
        Bundle.from_dict(data)
