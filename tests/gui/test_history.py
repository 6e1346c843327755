"""Past queries kept with the project: most recent first, once each, at most a limit."""

from qgis.core import QgsProject

from terralens.plugin.gui.history import load_history, remember_query


def test_queries_are_remembered_once_most_recent_first():
    project = QgsProject.instance()
    assert load_history(project) == []
    remember_query(project, "roads")
    remember_query(project, " airports ")
    assert remember_query(project, "roads") == ["roads", "airports"]
    assert load_history(project) == ["roads", "airports"]
    for number in range(5):
        remember_query(project, f"q{number}", limit=3)
    assert load_history(project) == ["q4", "q3", "q2"]
    project.clear()
    assert load_history(project) == []
