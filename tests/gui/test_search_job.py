"""The worker side of a panel search: indexes reused from memory, new ones handed back."""

from terralens.plugin.core.run_control import RunControl
from terralens.plugin.gui.search_job import SearchRequest, run_search


def test_second_search_reuses_the_indexes_handed_back(tiny, spacenet, ortho, tmp_path):
    request = SearchRequest([("pan", spacenet), ("ortho", ortho)], "roofs", k=4,
                            bundle_dir=tiny, out_path=str(tmp_path / "a.gpkg"))
    progress = []
    first = run_search(request, {}, RunControl(lambda f, m: progress.append(f)))
    assert len(first.hits) == 4 and first.model_id == "tiny-wordpiece"
    assert len(first.new_indexes) == 2 and progress[-1] == 1.0
    assert first.raster_names == ["pan", "ortho"]
    again = run_search(SearchRequest(request.rasters, "trees", bundle_dir=tiny,
                                     out_path=str(tmp_path / "b.gpkg")), first.new_indexes)
    assert again.new_indexes == {} and (tmp_path / "b.gpkg").is_file()
