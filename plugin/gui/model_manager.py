"""Model manager: the bundles TerraLens can use, their figures and cards; add, choose default."""

import html
from dataclasses import dataclass
from pathlib import Path

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
)

from ..common.settings_keys import user_models_dir
from ..core.bundle import Bundle, BundleError
from ..core.registry import (
    EMBEDDED_DIR,
    available_bundles,
    default_bundle_dir,
    install_model_pack,
)
from .model_info import CONVERT_HELP, describe_bundle, model_card
from .settings import DEVICES, load_settings, save_settings

NO_MODEL_HTML = (
    "<h3>No model installed yet</h3><p>TerraLens needs a model bundle. Click <b>Install model "
    "pack…</b> below and choose the model pack zip "
    "(<code>terralens-model-terralens-effnet-minilm-v1.zip</code>, published beside the plugin "
    "or built with <code>make zip</code>). It is unpacked into your QGIS profile, where plugin "
    "upgrades leave it alone, and becomes the default model.</p><p>A bundle folder you already "
    "have (one with a <code>bundle.json</code>) can be added with <b>Add bundle folder…</b>.</p>")


@dataclass
class BundleEntry:
    """One line of the list: a loadable bundle, or a folder that failed with `problem`."""

    folder: Path
    root: Path  # the user-added folder it was found in (None: embedded)
    bundle: Bundle = None
    problem: str = ""


def bundle_entries(extra_dirs):
    """Bundles found in the embedded `models/` folder, then in each user-added folder."""
    entries, seen = [], set()
    for root in [None, user_models_dir(), *extra_dirs]:
        for found, problem in available_bundles([] if root is None else [root]):
            folder = Path(found.folder if isinstance(found, Bundle) else found).resolve()
            if folder in seen or (root is not None and folder.is_relative_to(EMBEDDED_DIR)):
                continue
            seen.add(folder)
            bundle = found if isinstance(found, Bundle) else None
            entries.append(BundleEntry(folder, None if root is None else Path(root), bundle,
                                       problem or ""))
    return entries


def is_default(entry, settings):
    """Whether `entry` is what TerraLens runs when no model is chosen."""
    if settings.default_bundle:
        return Path(settings.default_bundle).resolve() == entry.folder
    try:
        return Path(default_bundle_dir([user_models_dir()])).resolve() == entry.folder
    except BundleError:
        return False


class ModelManagerDialog(QDialog):
    """Lists bundles with their details; adds folders; sets default, batch size and device."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("TerraLens models and settings")
        self.resize(860, 560)
        self.settings = load_settings()
        self.entries = []
        self._build()
        self.refresh()

    def _build(self):
        layout = QVBoxLayout(self)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.bundle_list = QListWidget(splitter)
        self.bundle_list.currentRowChanged.connect(self.show_details)
        self.details = QTextBrowser(splitter)
        self.details.setOpenExternalLinks(True)
        splitter.setSizes([260, 600])
        layout.addWidget(splitter, 1)
        buttons = QHBoxLayout()
        for text, slot in (("Install model pack…", self.choose_pack),
                           ("Add bundle folder…", self.choose_folder),
                           ("Remove folder", self.remove_current_folder),
                           ("Use as default", self.set_current_default),
                           ("Use embedded default", self.clear_default)):
            button = QPushButton(text, self)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        layout.addLayout(buttons)
        layout.addLayout(self._build_run_settings())
        help_label = QLabel(CONVERT_HELP, self)
        help_label.setWordWrap(True)
        help_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(help_label)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        close.rejected.connect(self.reject)
        layout.addWidget(close)

    def _build_run_settings(self):
        form = QFormLayout()
        self.batch_box = QSpinBox(self)
        self.batch_box.setRange(1, 1024)
        self.batch_box.setValue(self.settings.batch_size)
        self.batch_box.valueChanged.connect(self.store_run_settings)
        form.addRow("Tiles encoded together (batch size)", self.batch_box)
        self.device_box = QComboBox(self)
        self.device_box.addItems(DEVICES)
        self.device_box.setCurrentText(self.settings.device)
        self.device_box.setToolTip("auto: the GPU when onnxruntime has CUDA, else the CPU")
        self.device_box.currentTextChanged.connect(self.store_run_settings)
        form.addRow("Device", self.device_box)
        return form

    # --- list and details -------------------------------------------------------------------
    def refresh(self):
        """Reload the bundle list from the embedded and the user-added folders."""
        current = self.current_entry()
        self.entries = bundle_entries(self.settings.extra_bundle_dirs)
        self.bundle_list.clear()
        for entry in self.entries:
            name = entry.bundle.id if entry.bundle else f"⚠ {entry.folder.name}"
            mark = "  (default)" if is_default(entry, self.settings) else ""
            self.bundle_list.addItem(name + mark)
        folders = [entry.folder for entry in self.entries]
        if current is not None and current.folder in folders:
            self.bundle_list.setCurrentRow(folders.index(current.folder))
        elif self.entries:
            self.bundle_list.setCurrentRow(0)
        else:
            self.details.setHtml(NO_MODEL_HTML)

    def current_entry(self):
        row = self.bundle_list.currentRow()
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def show_details(self, _row=None):
        entry = self.current_entry()
        if entry is None:
            return
        if entry.bundle is None:
            self.details.setHtml(f"<h3>{html.escape(str(entry.folder))}</h3>"
                                 f"<p><b>Cannot be used:</b> {html.escape(entry.problem)}</p>")
            return
        card = model_card(entry.bundle)
        self.details.setHtml(describe_bundle(entry.bundle, is_default(entry, self.settings))
                             + (f"<hr><pre>{html.escape(card)}</pre>" if card else ""))

    # --- changes (stored at once) -------------------------------------------------------------
    def choose_folder(self):
        folder = QFileDialog.getExistingDirectory(
            self, "A model bundle folder, or a folder holding bundle folders")
        if folder:
            self.add_folder(folder)

    def choose_pack(self):
        path, _ = QFileDialog.getOpenFileName(self, "A TerraLens model pack",
                                              filter="Model packs (*.zip)")
        if path:
            self.install_pack(path)

    def install_pack(self, path):
        """Unpack a model pack into the profile's models folder, list it and show it selected
        (it is the default model when it is the default bundle id)."""
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # a large zip takes a moment
        try:
            folder, bundle = install_model_pack(path, user_models_dir())
        except BundleError as err:
            self.details.setPlainText(f"Could not install {path}:\n{err}")
            return None
        finally:
            QApplication.restoreOverrideCursor()
        self.refresh()
        folders = [entry.folder for entry in self.entries]
        if folder.resolve() in folders:
            self.bundle_list.setCurrentRow(folders.index(folder.resolve()))
        self.details.setHtml(f"<p><b>Installed model {html.escape(bundle.id)}</b> in "
                             f"<code>{html.escape(str(folder))}</code>.</p>"
                             + self.details.toHtml())
        return folder

    def add_folder(self, folder):
        """Remember a bundle folder (or a parent of some) and list what it holds."""
        folder = str(Path(folder).resolve())
        if folder not in self.settings.extra_bundle_dirs:
            self.settings.extra_bundle_dirs.append(folder)
            save_settings(self.settings)
        self.refresh()

    def remove_current_folder(self):
        """Forget the user-added folder the selected bundle was found in."""
        entry = self.current_entry()
        if entry is None or entry.root is None:
            return
        self.settings.extra_bundle_dirs = [
            d for d in self.settings.extra_bundle_dirs if Path(d) != entry.root]
        default = self.settings.default_bundle
        if default and Path(default).resolve().is_relative_to(entry.root.resolve()):
            self.settings.default_bundle = ""  # it lived in the folder just removed
        save_settings(self.settings)
        self.refresh()

    def set_current_default(self):
        entry = self.current_entry()
        if entry is not None and entry.bundle is not None:
            self.set_default(entry.folder)

    def set_default(self, folder):
        """Make `folder` the model used when none is chosen (panel and Processing)."""
        self.settings.default_bundle = str(folder)
        save_settings(self.settings)
        self.refresh()

    def clear_default(self):
        self.settings.default_bundle = ""
        save_settings(self.settings)
        self.refresh()

    def store_run_settings(self, *_value):
        self.settings.batch_size = self.batch_box.value()
        self.settings.device = self.device_box.currentText()
        save_settings(self.settings)
