"""Every algorithm explains itself in the toolbox: help with an example."""

def test_every_algorithm_has_help(provider):
    names = sorted(a.name() for a in provider.algorithms())
    assert names == ["buildindex", "promptmask", "textsearch", "zeroshotlabel"]
    for algorithm in provider.algorithms():
        assert "Example" in algorithm.shortHelpString()
