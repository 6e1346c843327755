"""The Models and settings dialog: bundles of folders, model packs, figures, broken bundles."""

from pathlib import Path

from terralens.plugin.common.settings_keys import default_bundle_setting
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


def test_model_manager_installs_a_model_pack_into_the_profile(qgis_app, tmp_path, tiny):
    import shutil
    import zipfile

    from terralens.plugin.common.settings_keys import user_models_dir

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
