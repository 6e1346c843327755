"""Every algorithm explains itself in the toolbox: help with an example, whole sentences, and
only what the default model really has."""

import pytest


def test_every_algorithm_has_help(provider):
    names = sorted(a.name() for a in provider.algorithms())
    assert names == ["buildindex", "changedetection", "labelfromexamples", "promptmask",
                     "searchbyexample", "textsearch", "zeroshotlabel"]
    for algorithm in provider.algorithms():
        assert "Example" in algorithm.shortHelpString()


def test_help_has_no_line_break_inside_a_sentence(provider):
    """QGIS's help pane shows every newline of the text as a break."""
    for algorithm in provider.algorithms():
        assert "\n" not in algorithm.shortHelpString(), algorithm.name()


def test_help_names_the_default_model_s_encoders_only(provider, repo_root):
    from terralens.plugin.core.bundle import load_bundle

    default = load_bundle(repo_root / "models" / "terralens-effnet-minilm-v1")
    names = [spec.name for spec in default.image_specs]
    text = provider.algorithm("zeroshotlabel").shortHelpString()
    words = " ".join(text.split())
    assert names == ["rgb", "s2"]
    assert "The default model has two: <code>rgb</code> and <code>s2</code>" in words
    assert "may also have <code>pan</code> (one band" in words
    assert "a single-band raster gets <code>pan</code> when the model has one" in words


@pytest.mark.parametrize("labels, labels_file, accepted", [
    ("", "", False), ("  ", "", False), ("forest, water", "", True), ("", "FILE", True)])
def test_labels_or_a_labels_file_are_required_before_the_run(provider, tmp_path, spacenet,
                                                             labels, labels_file, accepted):
    from qgis.core import QgsProcessingContext

    if labels_file:
        labels_file = tmp_path / "labels.txt"
        labels_file.write_text("forest\nwater\n")
    algorithm = provider.algorithm("zeroshotlabel").create()
    ok, message = algorithm.checkParameterValues(
        {"INPUT": spacenet, "LABELS": labels, "LABELS_FILE": str(labels_file or ""),
         "OUTPUT": "TEMPORARY_OUTPUT"}, QgsProcessingContext())
    assert ok is accepted
    if not accepted:
        assert message.startswith("Type labels")


def test_help_states_the_scales_the_default_model_really_picks(provider, repo_root):
    from terralens.plugin.core.bundle import load_bundle
    from terralens.plugin.core.scale import choose_scale

    default = load_bundle(repo_root / "models" / "terralens-effnet-minilm-v1")
    spec = default.scale
    text = provider.algorithm("zeroshotlabel").shortHelpString()
    assert f"enlarges a raster pixel at most {spec.max_upsampling:g} times" in text
    assert f"it knows {spec.gsd_range_m[0]:g} to {spec.gsd_range_m[1]:g} m" in text
    for raster_m, words in ((0.3, "aerial photo is read at"), (10.0, "true-colour image at"),
                            (30.0, "Landsat image at")):
        scale = choose_scale(raster_m, default.tile_size, None, default.gsd_m, spec)
        assert f"{words} {scale.model_pixel_m:.2g} m" in text
