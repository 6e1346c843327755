"""The plugin loads in QGIS: classFactory, Processing provider, toolbar and menu, unload."""

import pytest
from qgis.core import QgsApplication
from qgis.PyQt.QtWidgets import QToolBar

import terralens


def provider_ids():
    return [p.id() for p in QgsApplication.processingRegistry().providers()]


def test_class_factory_works_without_iface(qgis_app):
    plugin = terralens.classFactory(None)
    plugin.initProcessing()
    try:
        assert "terralens" in provider_ids()
        plugin.initProcessing()  # a second call must not register twice
        assert provider_ids().count("terralens") == 1
    finally:
        plugin.unload()
    assert "terralens" not in provider_ids()


def test_init_gui_adds_toolbar_and_menu_and_unload_removes_them(qgis_app, stub_iface):
    plugin = terralens.classFactory(stub_iface)
    plugin.initGui()
    toolbars = [toolbar for toolbar in stub_iface.window.findChildren(QToolBar)
                if toolbar.windowTitle() == "TerraLens"]
    assert len(toolbars) == 1
    assert toolbars[0].actions(), "the toolbar has actions"
    assert stub_iface.raster_menu.get("&TerraLens"), "the raster menu has a TerraLens entry"
    assert "terralens" in provider_ids()

    plugin.unload()
    qgis_app.processEvents()
    assert "terralens" not in provider_ids()
    assert "&TerraLens" not in stub_iface.raster_menu
    assert plugin.toolbar is None and plugin.actions == []


def test_toolbar_has_the_job_actions_and_the_panel_toggle(plugin, stub_iface, raster):
    toolbar = [t for t in stub_iface.window.findChildren(QToolBar)
               if t.windowTitle() == "TerraLens"][0]
    texts = [action.text() for action in toolbar.actions()]
    assert texts == ["Label tiles…", "Label from examples…", "Search…", "Segment by prompt…",
                     "Search panel"]
    menu = [action.text() for action in stub_iface.raster_menu["&TerraLens"]]
    assert "Models and settings…" in menu and "About TerraLens" in menu
    assert all(not action.icon().isNull() for action in toolbar.actions())

    toolbar.actions()[4].trigger()
    assert plugin.panel is not None and plugin.panel.isVisibleTo(stub_iface.window)
    assert plugin.panel.selected_rasters() == [("atlanta pan", raster.source())]
    plugin.toggle_panel(False)
    assert not plugin.panel.isVisibleTo(stub_iface.window)


@pytest.mark.parametrize("number, algorithm", [(0, "zeroshotlabel"), (1, "labelfromexamples"),
                                               (2, "textsearch"), (3, "promptmask")])
def test_actions_open_their_dialog_with_the_active_raster(plugin, stub_iface, raster, number,
                                                          algorithm):
    toolbar = [t for t in stub_iface.window.findChildren(QToolBar)
               if t.windowTitle() == "TerraLens"][0]
    toolbar.actions()[number].trigger()
    dialog = plugin.dialogs[-1]
    assert dialog.isVisible() and dialog.algorithm().id() == f"terralens:{algorithm}"
    value = dialog.mainWidget().wrappers["INPUT"].parameterValue()
    assert value in (raster.id(), [raster.id()], [raster.source()])
    dialog.close()


@pytest.mark.parametrize("algorithm, raster_output", [("zeroshotlabel", "CLASS_RASTER"),
                                                      ("labelfromexamples", "CLASS_RASTER"),
                                                      ("textsearch", "HEATMAP"),
                                                      ("promptmask", "PROBABILITY")])
def test_optional_rasters_can_be_opened_after_the_run(plugin, raster, algorithm, raster_output):
    from qgis.PyQt.QtWidgets import QCheckBox

    dialog = plugin.open_dialog(algorithm)
    try:
        widget = dialog.mainWidget().wrappers[raster_output].wrappedWidget()
        boxes = [box for box in widget.findChildren(QCheckBox) if "Open output" in box.text()]
        assert boxes and boxes[0].isEnabled() and boxes[0].isChecked()
    finally:
        dialog.close()


def test_about_names_the_version_and_the_engine(repo_root):
    from terralens.plugin.gui.plugin import about_text

    version = [line.split("=", 1)[1] for line in
               (repo_root / "metadata.txt").read_text().splitlines()
               if line.startswith("version=")][0]
    text = about_text()
    assert text.startswith(f"TerraLens {version}\n") and "onnxruntime 1." in text
    assert "terralens-packages" in text


def test_layers_added_after_a_run_go_below_the_results_group(plugin, tmp_path, ortho, tiny):
    """After a run QGIS selects a result, and adds the next layer above the selected one, so it
    landed among the results; the plugin puts it just below the group (above, a raster would
    hide every result). TerraLens's own outputs still go into the group."""
    import processing
    from qgis.core import QgsLayerTreeRegistryBridge, QgsProject, QgsVectorLayer

    project = QgsProject.instance()
    root, bridge = project.layerTreeRoot(), project.layerTreeRegistryBridge()
    processing.runAndLoadResults("terralens:zeroshotlabel", {
        "INPUT": ortho, "LABELS": "trees, roofs", "MODEL": tiny, "TILE_SIZE": 128,
        "OUTPUT": str(tmp_path / "first.gpkg")})
    group = root.findGroup("TerraLens results")
    try:
        bridge.setLayerInsertionPoint(QgsLayerTreeRegistryBridge.InsertionPoint(group, 0))
        mine = QgsVectorLayer("Point?crs=EPSG:4326", "my points", "memory")
        project.addMapLayer(mine)
        node = root.findLayer(mine.id())
        assert node.parent() is root
        assert root.children().index(node) == root.children().index(group) + 1
        processing.runAndLoadResults("terralens:zeroshotlabel", {
            "INPUT": ortho, "LABELS": "trees, roads", "MODEL": tiny, "TILE_SIZE": 128,
            "OUTPUT": str(tmp_path / "second.gpkg")})
        assert sorted(n.layer().name() for n in group.findLayers()) == [
            "Labels: trees, roads (ortho_drone_small)", "Labels: trees, roofs (ortho_drone_small)"]
    finally:  # the group goes with the project: a later test must not add layers into it
        bridge.setLayerInsertionPoint(QgsLayerTreeRegistryBridge.InsertionPoint(root, 0))
