"""The Search panel's search by example: "More like this" on a result row (context menu and
button)."""

from gui_steps import centres, result_layers, rounded, search, wait_for_task
from qgis.core import QgsProject
from qgis.PyQt.QtCore import Qt

from terralens.plugin.gui.example_panel import footprint_centre
from terralens.plugin.gui.history import load_history


def test_more_like_this_from_the_row_menu(panel, use_tiny):
    search(panel, "houses")
    item = panel.result_list.item(2)
    rank, corners, _crs = item.data(Qt.ItemDataRole.UserRole)
    menu = panel.row_menu(item)
    assert [action.text() for action in menu.actions()] == ["Zoom to tile", "More like this"]
    menu.actions()[1].trigger()
    wait_for_task(panel)
    layers = result_layers()
    assert layers[0].name() == "Search: like result 3 (houses) (atlanta pan)"
    assert layers[0].featureCount() == 20 and panel.result_list.count() == 20
    assert rounded(footprint_centre(corners)) not in centres(layers[0]), "not the example"
    assert panel.status.text().startswith("20 tiles for 'like result 3 (houses)'")
    assert load_history(QgsProject.instance()) == ["houses"], "no example search in history"


def test_more_like_this_button_uses_the_selected_row(panel, use_tiny):
    search(panel, "roads")
    assert not panel.like_button.isEnabled()
    panel.result_list.setCurrentRow(0)
    assert panel.like_button.isEnabled()
    panel.like_button.click()
    wait_for_task(panel)
    assert result_layers()[0].name() == "Search: like result 1 (roads) (atlanta pan)"
    panel.result_list.setCurrentRow(-1)
    panel.more_like_this()
    assert panel.status.text().startswith("Select a result first")
