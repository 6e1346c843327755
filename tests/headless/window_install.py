"""Run inside a real QGIS window by test_install.py: a user's Install click after a restart.

QGIS starts with TerraLens enabled and onnxruntime missing. The script waits for the offer,
closes it, restarts the plugin, collects Python garbage (what made QGIS 3.22 crash on the next
click), clicks Install (real pip, real registry), restarts the plugin again and records what it
sees in TERRALENS_TEST_OUT (JSON). Every step has a deadline; QGIS ends itself.
"""

import gc
import json
import os
import time

from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QPushButton
from qgis.utils import iface, plugins, reloadPlugin

OUT = os.environ["TERRALENS_TEST_OUT"]
RESULT = {"steps": []}


def finish(code=0):
    with open(OUT, "w", encoding="utf-8") as handle:
        json.dump(RESULT, handle, indent=1)
    os._exit(code)


def texts():
    return [item.text() for item in iface.messageBar().items()]


def when(condition, then, deadline_s=60, what="a step"):
    """Run `then` once `condition()` holds, polling; give up (exit 1) after `deadline_s`."""
    end = time.monotonic() + deadline_s

    def poll():
        try:
            if condition():
                then()
            elif time.monotonic() > end:
                RESULT["failed"] = f"timed out waiting for {what}; bar: {texts()}"
                finish(1)
            else:
                QTimer.singleShot(200, poll)
        except Exception as err:  # record it: a failed step must not leave QGIS running
            RESULT["failed"] = f"{type(err).__name__}: {err}"
            finish(1)

    QTimer.singleShot(200, poll)


def offer_checked():
    return plugins["terralens"].offer.status is not None


def close_and_restart():
    offer = plugins["terralens"].offer
    RESULT["first_offer"] = texts()
    iface.messageBar().popWidget(offer.item)
    reloadPlugin("terralens")
    RESULT["steps"].append("closed the offer, restarted the plugin")
    when(offer_checked, click_install, what="the offer after the restart")


def click_install():
    for _ in range(3):
        gc.collect()
    buttons = [b for b in iface.messageBar().findChildren(QPushButton) if b.text() == "Install"]
    RESULT["install_buttons"] = len(buttons)
    buttons[-1].click()
    RESULT["steps"].append("clicked Install")
    when(lambda: plugins["terralens"].offer.task is None, restart_again, deadline_s=600,
         what="the install")


def restart_again():
    RESULT["after_install"] = texts()
    iface.messageBar().clearWidgets()
    reloadPlugin("terralens")
    when(offer_checked, record_final, what="the check after the second restart")


def record_final():
    import onnxruntime

    RESULT["final_status"] = plugins["terralens"].offer.status.state
    RESULT["final_bar"] = texts()
    RESULT["onnxruntime_file"] = onnxruntime.__file__
    finish(0)


when(offer_checked, close_and_restart, what="the first offer")
