"""Progress and cancel: what a caller (Processing, a GUI task) hands to a long job."""

from dataclasses import dataclass, field


class Cancelled(Exception):
    """The caller asked to stop; nothing was written."""


@dataclass
class RunControl:
    """Progress, cancel and warning callbacks a caller (Processing, a GUI task) hands to a job.

    `progress(fraction, message)` gets a fraction in [0, 1] and a message that is empty unless
    the job enters a new phase (so logs stay short); `is_cancelled()` is polled once a batch;
    `warning(message)` hears what the user should know about the results (for example that
    the tiles are far coarser than the raster). Any may be None; warnings are also kept in
    `warnings`.
    """

    progress: object = None
    is_cancelled: object = None
    warning: object = None
    warnings: list = field(default_factory=list)

    def check(self):
        """Raise `Cancelled` if the caller asked to stop."""
        if self.is_cancelled is not None and self.is_cancelled():
            raise Cancelled("cancelled by the user")

    def report(self, fraction, message=""):
        if self.progress is not None:
            self.progress(max(0.0, min(1.0, float(fraction))), message)

    def warn(self, message):
        """Tell the caller something about the results (once per distinct message)."""
        if message in self.warnings:
            return
        self.warnings.append(message)
        if self.warning is not None:
            self.warning(message)

    def share(self, number, count, prefix=""):
        """A RunControl for part `number` of `count` equal parts of this job: its progress is
        reported as that part's share of the whole, its messages start with `prefix`."""
        def progress(fraction, message):
            self.report((number + fraction) / count, prefix + message if message else "")

        return RunControl(progress, self.is_cancelled, lambda text: self.warn(prefix + text))
