"""Progress and cancel: clamped progress, cancel as an exception, shares of a longer job."""

import pytest

from terralens.plugin.core.run_control import Cancelled, RunControl


def test_report_clamps_and_check_raises_only_when_cancelled():
    seen = []
    control = RunControl(lambda fraction, message: seen.append((fraction, message)))
    control.report(-1)
    control.report(2.5, "done")
    assert seen == [(0.0, ""), (1.0, "done")]
    control.check()  # no cancel callback: never cancelled
    with pytest.raises(Cancelled):
        RunControl(is_cancelled=lambda: True).check()
    RunControl().report(0.5)  # no callbacks at all: silent


def test_a_share_reports_its_part_of_the_whole_and_shares_cancel():
    seen, stop = [], []
    whole = RunControl(lambda fraction, message: seen.append((fraction, message)),
                       lambda: bool(stop))
    third = whole.share(2, 4, "b.tif: ")
    third.report(0.0, "start")
    third.report(0.5, "")
    third.report(1.0, "10/10 tiles")
    assert seen == [(0.5, "b.tif: start"), (0.625, ""), (0.75, "b.tif: 10/10 tiles")]
    stop.append(True)
    with pytest.raises(Cancelled):
        third.check()
