"""What the model information says about a bundle."""





def test_model_information_lists_every_encoder(repo_root):
    from terralens.plugin.core.bundle import load_bundle
    from terralens.plugin.gui.model_info import describe_bundle
    text = describe_bundle(load_bundle(repo_root / "tests" / "data" / "tiny-sensors"))
    for expected in ("image encoder rgb", "image encoder pan", "image encoder s2",
                     "band adapter adapter_s2.onnx", "10 m/pixel", "location encoder"):
        assert expected in text
    plain = describe_bundle(load_bundle(repo_root / "tests" / "data" / "tiny-wordpiece"))
    assert "image encoder pan" not in plain and "location encoder" in plain
    assert "softened by 2.6 (the plugin&#x27;s; this bundle records none)" in plain


def test_model_information_says_whose_score_softening_it_is(repo_root):
    from terralens.plugin.core.bundle import load_bundle
    from terralens.plugin.gui.model_info import describe_bundle
    bundle = load_bundle(repo_root / "tests" / "data" / "tiny-wordpiece")
    bundle.refine_score_temperature = 1.8
    assert "softened by 1.8 (this model&#x27;s)" in describe_bundle(bundle)
