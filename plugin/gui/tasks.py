"""Background work as QgsTask: the worker computes, the main thread applies the result."""

import traceback

from qgis.core import Qgis, QgsApplication, QgsMessageLog, QgsTask

from ..core.run_control import Cancelled, RunControl

LOG_TAG = "TerraLens"
# errors whose message already tells the user what to change (the core writes them that way)
EXPECTED_ERRORS = (ValueError, OSError, ImportError, RuntimeError)
_running = []  # Python task objects QGIS runs: kept alive until their finished() has run


def log_traceback():
    """Put the current exception's traceback in the TerraLens tab of the log panel."""
    QgsMessageLog.logMessage(traceback.format_exc(), LOG_TAG, Qgis.MessageLevel.Critical)


class WorkTask(QgsTask):
    """Runs `work(control)` in a worker thread, then what it returns on the main thread.

    `work` gets a `RunControl` (progress to the task manager, cancel from it) and must not touch
    layers, the layer tree or widgets; it returns a callable (or None) that `finished()` runs on
    the main thread, where adding layers and updating widgets is safe (the Deepness rule).

    Warnings the work gives (`control.warn`) reach `on_warning(list)` on the main thread once it
    has succeeded.

    Attributes:
        message: the latest progress message (read by panels on `progressChanged`).
        error: the failure message, "" while none, "cancelled" when the user stopped it.
        warnings: what the work warned about.
    """

    def __init__(self, description, work, on_error, on_cancel=None, on_warning=None):
        super().__init__(description, QgsTask.Flag.CanCancel)
        self.work = work
        self.on_error = on_error
        self.on_cancel = on_cancel
        self.on_warning = on_warning
        self.warnings = []
        self.message = ""
        self.error = ""
        self.detached = False
        self._then = None

    def run(self):
        """Worker thread: run the work, keep its follow-up; never raise into QGIS."""
        control = RunControl(self._progress, self.isCanceled)
        self.warnings = control.warnings  # filled by the worker, read after it has ended
        try:
            self._then = self.work(control)
            return True
        except Cancelled:
            self.error = "cancelled"
        except EXPECTED_ERRORS as err:
            self.error = str(err)
        except Exception as err:  # a bug: log the traceback, show one line
            log_traceback()
            self.error = f"{type(err).__name__}: {err} (details in the TerraLens log panel)"
        return False

    def _progress(self, fraction, message):
        if message:
            self.message = message
        self.setProgress(100.0 * fraction)

    def detach(self):
        """Cancel, and run none of the callbacks (their widgets are going away)."""
        self.detached = True
        self.cancel()

    def finished(self, result):
        """Main thread: apply the result, or report the error or the cancel."""
        if self in _running:
            _running.remove(self)
        if self.detached:
            return
        if result:
            try:
                if self._then is not None:
                    self._then()
                if self.warnings and self.on_warning is not None:
                    self.on_warning(list(self.warnings))
            except Exception as err:  # never let a traceback dialog appear
                log_traceback()
                self.on_error(f"{type(err).__name__}: {err}")
        elif self.error == "cancelled" or (self.isCanceled() and not self.error):
            if self.on_cancel is not None:
                self.on_cancel()
        else:
            self.on_error(self.error or "the task stopped without saying why")


def start(task):
    """Hand `task` to QGIS's task manager, keeping it alive until it has finished."""
    _running.append(task)
    QgsApplication.taskManager().addTask(task)
    return task
