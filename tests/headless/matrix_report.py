"""The bad-input matrix's record: one row a case, written as `docs/reliability.md` at the end."""

import os
import re
from dataclasses import dataclass

from terralens.plugin.core.atomic import atomic_write_text

HEADER = """# Reliability: the bad-input matrix

Every row is one `qgis_process run terralens:<algorithm>` on a deliberately awkward input,
made by the test itself with GDAL (small, deterministic rasters, broken model bundles, mask
layers). A case passes when it ends either in a correct output (opened with GDAL/OGR: features
where tiles exist, the raster's CRS, the expected fields) or in one clear error message, with no
Python traceback in what `qgis_process` prints and no temporary or half-written file left in the
output or index cache folder. Most cases run the tiny random test bundle
(`tests/data/tiny-wordpiece`, 64 px tiles); those marked *default model* run the real
`terralens-effnet-minilm-v1`. This file is written by the test run, not by hand:
`make test-headless`, or `QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest
tests/headless/test_bad_input_matrix.py` (it is rewritten only when every case ran).
"""


@dataclass
class Row:
    """One case's line in the table; `key` identifies the case, `case` names its input."""

    key: str
    case: str
    algorithm: str
    expected: str
    outcome: str
    passed: bool
    note: str = ""


class Report:
    """Collects rows from the matrix's tests; writes the Markdown table when all are in."""

    def __init__(self, expected_cases):
        self.expected = list(expected_cases)
        self.rows = {}
        self.seconds = None
        self.workers = None

    def add(self, row):
        self.rows[row.key] = row

    def complete(self):
        return all(key in self.rows for key in self.expected)

    def markdown(self):
        rows = [self.rows[key] for key in self.expected]
        passed = sum(row.passed for row in rows)
        lines = [HEADER, f"{passed} of {len(rows)} cases pass{self.timing()}.", "",
                 "| input | algorithm | expected | outcome | passed | decision, fix |",
                 "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {row.case} | {row.algorithm} | {row.expected} | {cell(row.outcome)} | "
                  f"{'yes' if row.passed else '**no**'} | {cell(row.note)} |" for row in rows]
        return "\n".join(lines) + "\n"

    def timing(self):
        """How long the run took, and how busy the machine was (the time depends on both)."""
        if not self.seconds:
            return ""
        return (f"; the matrix ran in {self.seconds:.0f} s, {self.workers} qgis_process at a "
                f"time, on {os.cpu_count()} cores with a 15-minute load average of "
                f"{os.getloadavg()[2]:.1f} at its end")

    def write(self, path):
        """Write the table atomically when every expected case has a row; True if written."""
        if not self.complete():
            return False
        atomic_write_text(path, self.markdown())
        return True


def cell(text):
    """Text safe inside a Markdown table cell."""
    return re.sub(r"\s+", " ", str(text)).replace("|", "\\|").strip()


def error_message(output):
    """The error qgis_process printed (its `ERROR:` line and indented continuation lines)."""
    lines = output.splitlines()
    for number, line in enumerate(lines):
        if line.startswith("ERROR:"):
            block = [line[len("ERROR:"):].strip()]
            block += [more.strip() for more in lines[number + 1:number + 4]
                      if more.startswith("\t")]
            return " ".join(block)
    return ""
