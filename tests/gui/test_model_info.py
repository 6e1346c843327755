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
