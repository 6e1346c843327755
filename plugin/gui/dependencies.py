"""The message-bar offer to install onnxruntime (missing or broken), run as a background task.

Qt pitfall avoided here (it crashed QGIS 3.22 on the Install click after a restart): a slot that
is a closure over its own button makes a reference cycle that Python's garbage collector may
free while Qt still holds the connection. The offer is a long-lived object owned by the plugin;
buttons call its bound methods, and it checks that its widgets still exist before using them.
"""

from qgis.core import Qgis, QgsMessageLog
from qgis.gui import QgsMessageBarItem
from qgis.PyQt import sip
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QMessageBox, QPushButton

from ..common import packages, pip_install
from .tasks import LOG_TAG, WorkTask, start

SHORT_TEXT = {packages.MISSING: "needs onnxruntime, the engine that runs its models",
              packages.BROKEN: "cannot load onnxruntime, the engine that runs its models"}


def missing_packages():
    """["onnxruntime"] when it cannot be used (missing or broken), else []."""
    return [] if packages.status().ok else ["onnxruntime"]


class DependencyOffer:
    """Shows what is missing with an Install button and the whole command; runs the install.

    Attributes:
        item: the message-bar item on show (None, or a deleted one after the user closed it).
        task: the running install task, or None.
    """

    def __init__(self, iface, installer=pip_install.install):
        self.iface = iface
        self.installer = installer
        self.item = None
        self.install_button = None
        self.task = None
        self.status = None
        self.closed = False

    def show_if_needed(self):
        """Show the offer when onnxruntime cannot be used; return whether it was shown."""
        if self.closed:
            return False
        self.status = packages.status()
        if self.status.ok:
            return False
        if not self._alive(self.item):
            self._push()
        return True

    def _push(self):
        text = f"{SHORT_TEXT[self.status.state]}: {self.status.detail}."
        self.item = QgsMessageBarItem("TerraLens", text, Qgis.MessageLevel.Warning, 0)
        self.install_button = QPushButton("Install", self.item)
        self.install_button.setToolTip(f"Runs: {packages.manual_command()}")
        self.install_button.clicked.connect(self.install)
        command_button = QPushButton("Show command", self.item)
        command_button.clicked.connect(self.show_command)
        self.item.layout().addWidget(self.install_button)
        self.item.layout().addWidget(command_button)
        self.iface.messageBar().pushItem(self.item)
        QgsMessageLog.logMessage(packages.missing_message(self.status), LOG_TAG,
                                 Qgis.MessageLevel.Warning)

    @staticmethod
    def _alive(widget):
        return widget is not None and not sip.isdeleted(widget)

    def show_command(self):
        """The whole manual command, selectable (the message bar cuts long text)."""
        box = QMessageBox(QMessageBox.Icon.Information, "Install onnxruntime for TerraLens",
                          packages.missing_message(self.status or packages.status()),
                          QMessageBox.StandardButton.Close, self.iface.mainWindow())
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setDetailedText(packages.manual_command())
        box.exec()

    def install(self, _checked=False):
        """Run the install in a QgsTask; report on the message bar when it ends."""
        if self.task is not None:
            return self.task
        if self._alive(self.install_button):
            self.install_button.setEnabled(False)
            self.install_button.setText("Installing…")
        self.task = WorkTask("TerraLens: installing onnxruntime", self._work, self.failed)
        return start(self.task)

    def _work(self, control):
        try:
            record = self.installer(control)
        except pip_install.InstallError as err:  # the whole pip output goes to the log panel
            QgsMessageLog.logMessage(err.details or str(err), LOG_TAG, Qgis.MessageLevel.Info)
            raise
        return lambda: self.succeeded(record)

    def succeeded(self, record):
        self.task = None
        self._close_item()
        numpy_note = (f" (with numpy {record['numpy']}, as QGIS's numpy is too old for it)"
                      if record.get("numpy") else "")
        self.iface.messageBar().pushMessage(
            "TerraLens", f"onnxruntime {record.get('onnxruntime', '')} is installed in "
            f"{packages.packages_dir()}{numpy_note}: TerraLens is ready.",
            Qgis.MessageLevel.Success, 0)

    def failed(self, message):
        self.task = None
        if self._alive(self.install_button):
            self.install_button.setEnabled(True)
            self.install_button.setText("Install")
        QgsMessageLog.logMessage(f"Installing onnxruntime failed: {message}", LOG_TAG,
                                 Qgis.MessageLevel.Critical)
        self.iface.messageBar().pushMessage(
            "TerraLens", f"Installing onnxruntime failed: {message}",
            Qgis.MessageLevel.Critical, 0)

    def _close_item(self):
        if self._alive(self.item):
            self.iface.messageBar().popWidget(self.item)
        self.item = self.install_button = None

    def close(self):
        """Remove the offer (plugin unload); a running install is stopped, its result ignored."""
        self.closed = True
        if self.task is not None:
            self.task.detach()
            self.task = None
        self._close_item()

