"""The desktop side in an offscreen QGIS: actions, Search panel with tasks, dependencies,
model manager and settings."""

import importlib.util
import sys
import time
from pathlib import Path

import pytest
from qgis.core import QgsApplication, QgsProcessingException, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QPushButton, QToolBar

import terralens
from terralens.plugin.core import registry
from terralens.plugin.core.encoders import INSTALL_HINT
from terralens.plugin.gui import dependencies
from terralens.plugin.gui.history import load_history
from terralens.plugin.gui.model_manager import ModelManagerDialog
from terralens.plugin.gui.results import GROUP_NAME
from terralens.plugin.gui.search_panel import SearchPanel
from terralens.plugin.gui.settings import Settings, load_settings, save_settings
from terralens.plugin.processing.settings_keys import default_bundle_setting


@pytest.fixture(autouse=True)
def clean_state(qgis_app, tmp_path, monkeypatch):
    """Own settings, an empty project and an empty index cache for every test."""
    from qgis.core import QgsSettings

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    QgsSettings().remove("terralens")
    yield
    QgsSettings().remove("terralens")
    QgsProject.instance().clear()


@pytest.fixture
def use_tiny(tiny):
    save_settings(Settings(default_bundle=tiny, batch_size=32))


@pytest.fixture
def raster(spacenet, stub_iface):
    layer = QgsRasterLayer(spacenet, "atlanta pan")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    stub_iface.active_layer = layer
    return layer


@pytest.fixture
def plugin(stub_iface):
    plugin = terralens.classFactory(stub_iface)
    plugin.initGui()
    yield plugin
    plugin.unload()


@pytest.fixture
def panel(stub_iface, raster):
    panel = SearchPanel(stub_iface, stub_iface.window)
    yield panel
    panel.disconnect_project()


def wait_for(condition, timeout=20.0):
    """Let QGIS run (task manager, queued signals) until `condition()` or fail at `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout} s")
        QgsApplication.processEvents()
        time.sleep(0.005)


def search(panel, query):
    panel.query_box.setEditText(query)
    panel.query_box.lineEdit().returnPressed.emit()  # what Enter does
    assert panel.task is not None, panel.status.text()
    wait_for(lambda: panel.task is None)


def bar_texts(iface):
    return [item.text() for item in iface.message_bar.items()]


def result_layers():
    group = QgsProject.instance().layerTreeRoot().findGroup(GROUP_NAME)
    return [] if group is None else [node.layer() for node in group.findLayers()]


# --- toolbar and dialogs ------------------------------------------------------------------
def test_toolbar_has_the_job_actions_and_the_panel_toggle(plugin, stub_iface, raster):
    toolbar = [t for t in stub_iface.window.findChildren(QToolBar)
               if t.windowTitle() == "TerraLens"][0]
    texts = [action.text() for action in toolbar.actions()]
    assert texts == ["Label tiles…", "Search…", "Segment by prompt…", "Search panel"]
    menu = [action.text() for action in stub_iface.raster_menu["&TerraLens"]]
    assert "Models and settings…" in menu and "About TerraLens" in menu
    assert all(not action.icon().isNull() for action in toolbar.actions())

    toolbar.actions()[3].trigger()
    assert plugin.panel is not None and plugin.panel.isVisibleTo(stub_iface.window)
    assert plugin.panel.selected_rasters() == [("atlanta pan", raster.source())]
    plugin.toggle_panel(False)
    assert not plugin.panel.isVisibleTo(stub_iface.window)


@pytest.mark.parametrize("number, algorithm", [(0, "zeroshotlabel"), (1, "textsearch"),
                                               (2, "promptmask")])
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


# --- search panel ---------------------------------------------------------------------------
def test_panel_search_builds_the_index_once_then_answers_from_memory(panel, stub_iface, tiny,
                                                                     use_tiny):
    assert panel.selected_rasters() == [("atlanta pan", stub_iface.active_layer.source())]
    progress, tasks = [], []
    panel.progress.valueChanged.connect(progress.append)
    QgsApplication.taskManager().taskAdded.connect(tasks.append)
    search(panel, "houses with a pool")
    QgsApplication.taskManager().taskAdded.disconnect(tasks.append)
    assert len(tasks) == 1, "the search ran as a task of QGIS's task manager"
    assert progress and max(progress) > 50, "the panel showed the indexing progress"
    assert panel.status.text().startswith("20 tiles"), panel.status.text()
    layers = result_layers()
    assert [layer.name() for layer in layers] == ["Search: houses with a pool"]
    features = sorted(layers[0].getFeatures(), key=lambda f: f["rank"])
    assert [f["rank"] for f in features] == list(range(1, 21))
    scores = [f["score"] for f in features]
    assert scores == sorted(scores, reverse=True)
    assert layers[0].renderer().type() == "graduatedSymbol"  # the search style
    assert panel.result_list.count() == 20
    calls = registry.cached_model(tiny).image.calls
    assert calls > 0 and len(panel.memory) == 1

    search(panel, "parking lot")
    assert registry.cached_model(tiny).image.calls == calls, "no tile was encoded again"
    assert [layer.name() for layer in result_layers()] == ["Search: parking lot",
                                                           "Search: houses with a pool"]
    assert load_history(QgsProject.instance()) == ["parking lot", "houses with a pool"]
    offered = [panel.query_box.itemText(i) for i in range(panel.query_box.count())]
    assert offered == ["parking lot", "houses with a pool"]


def test_panel_reuses_an_index_built_by_the_processing_algorithm(panel, tiny, spacenet,
                                                                  use_tiny):
    import processing

    plugin = terralens.classFactory(None)
    plugin.initProcessing()
    try:
        processing.run("terralens:buildindex", {"INPUT": [spacenet], "MODEL": tiny})
    finally:
        plugin.unload()
    calls = registry.cached_model(tiny).image.calls
    search(panel, "roads")
    assert registry.cached_model(tiny).image.calls == calls
    assert len(result_layers()) == 1


def test_clicking_a_result_zooms_to_it_and_selects_it(panel, stub_iface, raster, use_tiny):
    canvas = stub_iface.canvas
    canvas.setDestinationCrs(raster.crs())
    canvas.setExtent(raster.extent())
    search(panel, "trees")
    item = panel.result_list.item(2)
    rank, corners, _crs = item.data(Qt.ItemDataRole.UserRole)
    panel.zoom_to_item(item)
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    extent = canvas.extent()
    assert extent.xMinimum() <= min(xs) and extent.xMaximum() >= max(xs)
    assert extent.yMinimum() <= min(ys) and extent.yMaximum() >= max(ys)
    # zoomed in on the tile (the canvas widget's aspect ratio widens one side)
    assert min(extent.width(), extent.height()) < raster.extent().width() / 3
    assert abs(extent.center().x() - (min(xs) + max(xs)) / 2) < 1.0
    layer = result_layers()[0]
    assert [f["rank"] for f in layer.selectedFeatures()] == [rank]


def test_cancel_adds_nothing(panel, use_tiny):
    panel.query_box.setEditText("roads")
    panel.run_query()
    panel.cancel()
    wait_for(lambda: panel.task is None)
    assert panel.status.text().startswith("Cancelled")
    assert result_layers() == []


def test_search_errors_go_to_the_message_bar(panel, stub_iface, tmp_path):
    save_settings(Settings(default_bundle=str(tmp_path / "no-such-bundle")))
    search(panel, "roads")
    texts = bar_texts(stub_iface)
    assert texts and "no-such-bundle" in texts[-1]
    assert panel.status.text().startswith("Search failed")
    assert result_layers() == []


def test_panel_needs_a_query_and_a_raster(stub_iface, qgis_app):
    panel = SearchPanel(stub_iface, stub_iface.window)
    try:
        panel.run_query("   ")
        assert "Type what you look for" in panel.status.text()
        panel.run_query("roads")
        assert "Tick at least one raster" in panel.status.text() and panel.task is None
    finally:
        panel.disconnect_project()


def test_work_task_reports_errors_in_one_line_and_never_raises(qgis_app):
    from terralens.plugin.gui.tasks import WorkTask

    def bad_input(control):
        raise ValueError("tile size must be at least 8 pixels, got 2")

    def bug(control):
        return {}["missing"]

    errors = []
    for work in (bad_input, bug):
        task = WorkTask("test", work, errors.append)
        assert task.run() is False  # called directly: no task manager needed
        task.finished(False)
    assert errors[0] == "tile size must be at least 8 pixels, got 2"
    assert errors[1].startswith("KeyError: 'missing'") and "log" in errors[1]
    applied = []
    task = WorkTask("test", lambda control: lambda: applied.append(1), errors.append)
    assert task.run() is True
    task.finished(True)
    assert applied == [1] and len(errors) == 2


# --- dependencies -----------------------------------------------------------------------------
@pytest.fixture
def no_onnxruntime(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(dependencies.importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))


def test_missing_onnxruntime_warns_with_an_install_button(no_onnxruntime, plugin, stub_iface):
    texts = bar_texts(stub_iface)
    assert len(texts) == 1 and texts[0].startswith(INSTALL_HINT)
    assert "-m pip install --user onnxruntime" in texts[0] and '"numpy<' in texts[0]
    buttons = [b.text() for b in stub_iface.message_bar.findChildren(QPushButton)]
    assert "Install" in buttons


def test_plugin_without_missing_packages_shows_no_warning(plugin, stub_iface):
    assert bar_texts(stub_iface) == []


def test_panel_refuses_to_search_without_onnxruntime(no_onnxruntime, panel, stub_iface):
    panel.run_query("roads")
    assert panel.task is None and "onnxruntime is missing" in panel.status.text()
    assert bar_texts(stub_iface)[0].startswith(INSTALL_HINT)


@pytest.mark.parametrize("code, expected", [("print('ok')", "onnxruntime is installed"),
                                            ("import sys; sys.exit(3)", "pip failed (exit 3)")])
def test_install_button_runs_pip_in_a_task_and_reports(no_onnxruntime, monkeypatch, plugin,
                                                       stub_iface, code, expected):
    monkeypatch.setattr(dependencies, "install_command", lambda: [sys.executable, "-c", code])
    button = [b for b in stub_iface.message_bar.findChildren(QPushButton)
              if b.text() == "Install"][0]
    button.click()
    wait_for(lambda: any(expected in text for text in bar_texts(stub_iface)))


def test_install_command_uses_qgis_python_and_keeps_numpy_major():
    command = dependencies.install_command()
    assert command[1:5] == ["-m", "pip", "install", "--user"]
    assert "onnxruntime" in command and command[-1].startswith("numpy<")
    assert importlib.util.find_spec("numpy") is not None


def test_processing_says_the_same_install_hint(monkeypatch, qgis_app, tiny, spacenet):
    import processing

    plugin = terralens.classFactory(None)
    plugin.initProcessing()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    monkeypatch.setattr(registry, "_cache", {})
    try:
        with pytest.raises(QgsProcessingException) as raised:
            processing.run("terralens:textsearch", {"INPUT": [spacenet], "QUERY": "roads",
                                                    "MODEL": tiny, "OUTPUT": "TEMPORARY_OUTPUT"})
    finally:
        plugin.unload()
    assert INSTALL_HINT in str(raised.value)
    assert dependencies.missing_message().startswith(INSTALL_HINT)


# --- model manager and settings ------------------------------------------------------------------
def dialog_text(dialog):
    """Everything the model manager says: the details pane and its labels."""
    from qgis.PyQt.QtWidgets import QLabel

    labels = " ".join(label.text() for label in dialog.findChildren(QLabel))
    return dialog.details.toPlainText() + " " + labels


def test_model_manager_lists_bundles_of_an_added_folder(qgis_app, repo_root, tiny):
    dialog = ModelManagerDialog()
    dialog.add_folder(repo_root / "tests/data")
    ids = [entry.bundle.id for entry in dialog.entries if entry.bundle]
    assert "tiny-wordpiece" in ids and "tiny-clip" in ids
    dialog.bundle_list.setCurrentRow(ids.index("tiny-wordpiece"))
    text = dialog_text(dialog)
    for expected in ("tiny-wordpiece", "embedding size", "32", "64 pixels", "No evaluation",
                     "seed", "1234", "random weights", "python -m training export"):
        assert expected in text, expected
    dialog.set_current_default()
    assert load_settings().default_bundle == tiny
    assert default_bundle_setting() == tiny
    assert dialog.bundle_list.currentItem().text() == "tiny-wordpiece  (default)"
    dialog.remove_current_folder()
    assert load_settings().extra_bundle_dirs == [] and load_settings().default_bundle == ""
    assert "tiny-wordpiece" not in [e.bundle.id for e in dialog.entries if e.bundle]


def test_model_manager_installs_a_model_pack_into_the_profile(qgis_app, tmp_path, tiny):
    import shutil
    import zipfile

    from terralens.plugin.processing.settings_keys import user_models_dir

    pack = tmp_path / "terralens-model-tiny.zip"
    with zipfile.ZipFile(pack, "w") as archive:
        for file in sorted(Path(tiny).iterdir()):
            archive.write(file, f"tiny-pack/{file.name}")
    dialog = ModelManagerDialog()
    try:
        folder = dialog.install_pack(str(pack))
        assert folder == user_models_dir() / "tiny-pack"
        assert "tiny-wordpiece" in [e.bundle.id for e in dialog.entries if e.bundle]
        assert "Installed model tiny-wordpiece" in dialog.details.toPlainText()
        (tmp_path / "bad.zip").write_bytes(b"not a zip")
        assert dialog.install_pack(str(tmp_path / "bad.zip")) is None
        assert "not a model pack" in dialog.details.toPlainText()
    finally:
        shutil.rmtree(user_models_dir() / "tiny-pack", ignore_errors=True)


def test_model_manager_shows_evaluation_figures_and_broken_bundles(qgis_app, tmp_path, tiny):
    import json
    import shutil

    good = tmp_path / "bundles" / "evaluated"
    shutil.copytree(tiny, good)
    data = json.loads((good / "bundle.json").read_text())
    data["provenance"]["evaluation"] = {"ucm_zero_shot_top1": 0.8125, "retrieval": {"r@5": 0.5}}
    (good / "bundle.json").write_text(json.dumps(data))
    broken = tmp_path / "bundles" / "broken"
    broken.mkdir()
    (broken / "bundle.json").write_text("{}")
    dialog = ModelManagerDialog()
    dialog.add_folder(tmp_path / "bundles")
    names = [dialog.bundle_list.item(i).text() for i in range(dialog.bundle_list.count())]
    dialog.bundle_list.setCurrentRow(names.index("tiny-wordpiece"))
    text = dialog.details.toPlainText()
    assert "ucm_zero_shot_top1" in text and "0.8125" in text and "retrieval.r@5" in text
    dialog.bundle_list.setCurrentRow(names.index("⚠ broken"))
    assert "Cannot be used" in dialog.details.toPlainText()


def test_settings_round_trip(qgis_app, tiny):
    assert load_settings() == Settings()
    chosen = Settings(default_bundle=tiny, extra_bundle_dirs=["/a", "/b c"], batch_size=7,
                      device="auto")
    save_settings(chosen)
    assert load_settings() == chosen
    assert load_settings().providers == "auto" and default_bundle_setting() == tiny
    save_settings(Settings(extra_bundle_dirs=["/only"]))
    assert load_settings().extra_bundle_dirs == ["/only"]
    with pytest.raises(ValueError, match="device"):
        save_settings(Settings(device="tpu"))


def test_processing_uses_the_default_bundle_setting(qgis_app, tiny, spacenet, tmp_path,
                                                    use_tiny):
    import processing

    from terralens.plugin.core.outputs import read_metadata

    plugin = terralens.classFactory(None)
    plugin.initProcessing()
    try:
        result = processing.run("terralens:textsearch", {
            "INPUT": [spacenet], "QUERY": "roads", "K": 3, "TILE_SIZE": 128,
            "OUTPUT": str(tmp_path / "hits.gpkg")})
    finally:
        plugin.unload()
    assert read_metadata(result["OUTPUT"])["model_id"] == "tiny-wordpiece"


def test_model_information_lists_every_encoder(repo_root):
    from terralens.plugin.core.bundle import load_bundle
    from terralens.plugin.gui.model_info import describe_bundle
    text = describe_bundle(load_bundle(repo_root / "tests" / "data" / "tiny-sensors"))
    for expected in ("image encoder rgb", "image encoder pan", "image encoder s2",
                     "band adapter adapter_s2.onnx", "10 m/pixel", "location encoder"):
        assert expected in text
    plain = describe_bundle(load_bundle(repo_root / "tests" / "data" / "tiny-wordpiece"))
    assert "image encoder pan" not in plain and "location encoder" in plain
