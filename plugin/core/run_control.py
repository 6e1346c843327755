"""Progress and cancel: what a caller (Processing, a GUI task) hands to a long job."""

from dataclasses import dataclass


class Cancelled(Exception):
    """The caller asked to stop; nothing was written."""


@dataclass
class RunControl:
    """Progress and cancel callbacks a caller (Processing, a GUI task) hands to a job.

    `progress(fraction, message)` gets a fraction in [0, 1]; `is_cancelled()` is polled once a
    batch. Both may be None.
    """

    progress: object = None
    is_cancelled: object = None

    def check(self):
        """Raise `Cancelled` if the caller asked to stop."""
        if self.is_cancelled is not None and self.is_cancelled():
            raise Cancelled("cancelled by the user")

    def report(self, fraction, message=""):
        if self.progress is not None:
            self.progress(max(0.0, min(1.0, float(fraction))), message)

    def share(self, number, count, prefix=""):
        """A RunControl for part `number` of `count` equal parts of this job: its progress is
        reported as that part's share of the whole, its messages start with `prefix`."""
        def progress(fraction, message):
            self.report((number + fraction) / count, prefix + message if message else "")

        return RunControl(progress, self.is_cancelled)
