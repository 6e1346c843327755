"""Result layer names say what they hold; results gather in one group, a repeat replaces."""

from qgis.core import QgsProject, QgsVectorLayer

from terralens.plugin.common.result_layers import (
    GROUP_NAME,
    place_in_results_group,
    result_name,
    short_text,
)


def test_names_say_what_and_where_and_stay_short():
    assert result_name("Labels", "forest, water", ["scene"]) == "Labels: forest, water (scene)"
    many = ", ".join(f"label number {i}" for i in range(30))
    name = result_name("Labels", many, ["a", "b", "c"])
    assert name.endswith("… (3 rasters)") and len(name) < 80
    assert short_text("airplanes   parked\nbeside it") == "airplanes parked beside it"
    assert short_text("a" * 100, 10) == "a" * 9 + "…"


def memory_layer(name):
    layer = QgsVectorLayer("Polygon?crs=EPSG:32633", name, "memory")
    assert layer.isValid()
    return layer


def test_layers_move_from_the_root_into_the_group(clean_qgis_state):
    project = QgsProject.instance()
    loaded = memory_layer("Labels: forest (scene)")
    project.addMapLayer(loaded)  # where Processing puts a result: at the root
    group = place_in_results_group(loaded, project)
    assert group.name() == GROUP_NAME and project.layerTreeRoot().children()[0] is group
    assert [n.layer() for n in group.findLayers()] == [loaded]
    assert project.layerTreeRoot().findLayer(loaded.id()).parent() is group
    newer = memory_layer("Labels: forest (scene)")
    place_in_results_group(newer, project)  # Processing results never replace each other
    assert [n.layer().name() for n in group.findLayers()] == [
        "Labels: forest (scene) 2", "Labels: forest (scene)"]  # ... and are told apart
    replacing = memory_layer("Labels: forest (scene)")
    place_in_results_group(replacing, project, replace_same_name=True)  # the panel's
    assert [n.layer() for n in group.findLayers()] == [replacing, newer]
