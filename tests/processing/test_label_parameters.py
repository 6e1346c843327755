"""Both labelling algorithms offer the same labelling parameters and outputs, with one meaning."""

import pytest

SHARED = ("TOP_K", "MIN_SCORE", "REFINE", "OUTPUT", "CLASS_RASTER")


@pytest.mark.parametrize("name", ["zeroshotlabel", "labelfromexamples"])
def test_labelling_algorithms_share_their_label_parameters(provider, name):
    algorithm = provider.algorithm(name)
    defaults = {key: algorithm.parameterDefinition(key).defaultValue() for key in SHARED}
    assert defaults["TOP_K"] == 3 and defaults["MIN_SCORE"] == 0.0
    assert defaults["REFINE"] is True, "refinement is on by default"
    assert algorithm.parameterDefinition("CLASS_RASTER").createByDefault()
    assert "REFINED_TILES" in [output.name() for output in algorithm.outputDefinitions()]


def test_the_log_counts_tiles_a_best_label_most_first():
    from terralens.plugin.processing.label_parameters import label_counts_text

    assert label_counts_text({"forest": 5, "farmland": 7, "water": 5}) == (
        "farmland 7, forest 5, water 5")
    assert label_counts_text({}) == "none"
