"""The Models and settings dialog: bundles of folders, model packs, figures, broken bundles."""

from pathlib import Path

from terralens.plugin.common.settings_keys import default_bundle_setting
from terralens.plugin.gui import model_manager
from terralens.plugin.gui.model_manager import ModelManagerDialog
from terralens.plugin.gui.settings import load_settings


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


def test_model_manager_installs_a_model_pack_into_the_profile(qgis_app, tmp_path, tiny,
                                                             monkeypatch):
    import shutil
    import zipfile

    from terralens.plugin.common.settings_keys import user_models_dir

    pack = tmp_path / "terralens-model-tiny.zip"
    with zipfile.ZipFile(pack, "w") as archive:
        for file in sorted(Path(tiny).iterdir()):
            archive.write(file, f"tiny-pack/{file.name}")
    from terralens.plugin.core import registry

    empty = tmp_path / "plugin-from-zip" / "models"  # the plugin zip ships no model
    monkeypatch.setattr(model_manager, "EMBEDDED_DIR", empty)
    monkeypatch.setattr(registry, "EMBEDDED_DIR", empty)
    dialog = ModelManagerDialog()
    try:
        assert "No model installed yet" in dialog.details.toPlainText()
        assert "Install model pack" in dialog.details.toPlainText()
        folder = dialog.install_pack(str(pack))
        assert folder == user_models_dir() / "tiny-pack"
        assert [e.bundle.id for e in dialog.entries if e.bundle] == ["tiny-wordpiece"]
        assert dialog.current_entry().folder == folder.resolve(), "the new model is selected"
        shown = dialog.details.toPlainText()
        assert shown.startswith("Installed model tiny-wordpiece") and "embedding size" in shown
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
    data["provenance"]["evaluation"] = {
        "protocol": "../shared/data/DATA.md, 128 px", "zero_shot_ucm21_top1": 81.25,
        "zero_shot_ucm21_top1_prompt_ensemble": 80.0, "text_int8": {"knn20_ucm_top1": 90.0},
        "transductive": {"zero_shot_ucm21_top1": 86.5}, "new_task_top1": 12.5}
    data["provenance"]["recipe"] = {"name": "default", "optim": {"epochs": 20, "lr": 0.001},
                                    "augment": {"crop_scale": [0.55, 1.0]}}
    (good / "bundle.json").write_text(json.dumps(data))
    broken = tmp_path / "bundles" / "broken"
    broken.mkdir()
    (broken / "bundle.json").write_text("{}")
    dialog = ModelManagerDialog()
    dialog.add_folder(tmp_path / "bundles")
    names = [dialog.bundle_list.item(i).text() for i in range(dialog.bundle_list.count())]
    dialog.bundle_list.setCurrentRow(names.index("tiny-wordpiece"))
    text = dialog.details.toPlainText()
    for expected in ("Zero-shot labels, UC Merced (21 classes): % right 81.2",
                     "Zero-shot labels, UC Merced (21 classes): % right (prompt ensemble) 80",
                     "Image similarity, UC Merced (20 nearest): % right, with the 8-bit text "
                     "encoder 90", "New task top1 12.5",
                     "Zero-shot labels, UC Merced (21 classes): % right, labels refined with the "
                     "whole set (transductive) 86.5", "How measured DATA.md, 128 px",
                     "Recipe default", "Epochs 20"):
        assert expected in " ".join(text.split()), expected
    for raw in ("zero_shot_ucm21_top1", "crop_scale", "../shared", "optim"):
        assert raw not in text
    dialog.bundle_list.setCurrentRow(names.index("⚠ broken"))
    assert "Cannot be used" in dialog.details.toPlainText()
