"""Headless bad-input matrix (issue 12): the four algorithms through qgis_process on awkward
inputs; each case must end in a correct output or one clear message, leaving no stray file.

The cases run in a small pool of qgis_process processes (one output folder each); the table of
outcomes is written to docs/reliability.md when the whole matrix ran.
"""

import os
import re
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from matrix_cases import CASES, LONG_TEXT, OUTPUT, SEQUENTIAL_CASES
from matrix_checks import judge
from matrix_inputs import make_bundles, make_masks, make_rasters, write_polygons
from matrix_report import Report, Row, error_message
from osgeo import ogr

WORKERS = int(os.environ.get("TERRALENS_MATRIX_WORKERS", "2"))
REPORT_PATH = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
# As root, a read-only folder is still writable: drop the capability that allows it.
UNPRIVILEGED = (["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
                if os.geteuid() == 0 and shutil.which("setpriv") else [])


@dataclass
class Run:
    """What one qgis_process run did."""

    returncode: int
    output: str
    seconds: float
    out_dir: Path
    before: set  # files in the output folder before the run (prepared inputs)
    results: dict


@pytest.fixture(scope="session")
def matrix_inputs(tmp_path_factory, tiny):
    root = tmp_path_factory.mktemp("matrix-inputs")
    return {"raster": make_rasters(root / "rasters"), "mask": make_masks(root / "masks"),
            "bundle": make_bundles(root / "bundles", tiny), "tiny": tiny, "root": root}


@pytest.fixture(scope="session")
def report():
    record = Report([case.id for case in CASES] + SEQUENTIAL_CASES)
    started = time.monotonic()
    yield record
    record.seconds, record.workers = time.monotonic() - started, WORKERS
    if record.write(REPORT_PATH):
        print(f"\nwrote {REPORT_PATH}")


@pytest.fixture(scope="session")
def matrix(qgis_process, matrix_inputs, tmp_path_factory, report):
    """Every case of CASES run once, in parallel: {case id: Run}."""
    root = tmp_path_factory.mktemp("matrix-runs")
    with ThreadPoolExecutor(WORKERS) as pool:
        runs = pool.map(lambda case: run_case(qgis_process, case, matrix_inputs,
                                              root / slug(case.id)), CASES)
        runs = {case.id: run for case, run in zip(CASES, runs)}
    if os.environ.get("TERRALENS_MATRIX_TIMES"):  # where the time goes, for tuning the pool
        Path(os.environ["TERRALENS_MATRIX_TIMES"]).write_text("\n".join(
            f"{run.seconds:6.1f} {run.returncode} {key}" for key, run in runs.items()))
    return runs


def slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def arguments(case, inputs, out_dir):
    """qgis_process KEY=VALUE arguments of a case, placeholders filled in."""
    from matrix_cases import BASE

    params = {"INPUT": inputs["raster"][case.raster], **BASE[case.algorithm]}
    if case.model == "tiny":
        params["MODEL"] = inputs["tiny"]
    elif case.model.startswith("bundle:"):
        params["MODEL"] = inputs["bundle"][case.model.split(":", 1)[1]]
    params.update(dict(case.params))
    args = []
    for key, value in params.items():
        if value is None:
            continue
        value = value.replace("{out}", str(out_dir))
        value = re.sub(r"\{mask:(\w+)\}", lambda m: inputs["mask"][m.group(1)], value)
        args.append(f"{key}={value}")
    return args


def run_qgis(qgis_process, args, prefix=(), timeout=300):
    """Run qgis_process as a user would; (return code, stdout + stderr, seconds)."""
    from tools.headless import QGIS_PROCESS  # the qgis_process fixture put tools/ on the path

    start = time.monotonic()
    result = subprocess.run([*prefix, QGIS_PROCESS, *args], env=qgis_process.env,
                            cwd=str(qgis_process.home), capture_output=True, text=True,
                            timeout=timeout)
    return result.returncode, result.stdout + "\n" + result.stderr, time.monotonic() - start


def run_case(qgis_process, case, inputs, out_dir):
    out_dir.mkdir(parents=True)
    prefix = PREPARE[case.prepare](case, out_dir) if case.prepare else ()
    before = files_in(out_dir)
    try:
        code, output, seconds = run_qgis(qgis_process, ["run", f"terralens:{case.algorithm}",
                                                        "--", *arguments(case, inputs, out_dir)],
                                         prefix)
    finally:
        for folder in out_dir.rglob("*"):
            if folder.is_dir():
                folder.chmod(0o755)
    return Run(code, output, seconds, out_dir, before, parse_results(output))


def files_in(folder):
    return {str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file()}


def parse_results(output):
    """{KEY: value} of the 'Results' section qgis_process prints after a successful run."""
    if "\nResults\n" not in output:
        return {}
    section = output.split("\nResults\n", 1)[1]
    return dict(re.findall(r"^(\w+):\t(.*)$", section, flags=re.MULTILINE))


def prepare_labels_file(case, out_dir):
    labels = [f"class {number:04d}" for number in range(2000)]
    (out_dir / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    return ()


def prepare_read_only(case, out_dir):
    folder = out_dir / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0 and not UNPRIVILEGED:
        pytest.skip("running as root without setpriv: a read-only folder cannot be made")
    return UNPRIVILEGED


def prepare_existing(case, out_dir):
    """An older result at the output path: another layer, seven features."""
    target = dict(case.params).get("OUTPUT", "{out}/labels.gpkg").replace("{out}", str(out_dir))
    square = [(0, 0), (1, 0), (1, 1), (0, 1)]
    write_polygons(target, 32633, [square] * 7, driver="ESRI Shapefile"
                   if target.endswith(".shp") else "GPKG")
    return ()


PREPARE = {"labels_file": prepare_labels_file, "read_only": prepare_read_only,
           "existing": prepare_existing}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_case(case, matrix, matrix_inputs, report):
    run = matrix[case.id]
    try:
        outcome, passed = judge(case, run, matrix_inputs), True
    except AssertionError as err:
        outcome, passed = f"FAILED: {err}", False
    expected = "output" if case.expect == OUTPUT else f"message ({case.expect!r})"
    note = case.note + (f" **Fixed:** {case.fixed}" if case.fixed else "")
    label = case.name + (" (default model)" if case.model == "default" else "")
    report.add(Row(case.id, label, case.algorithm, expected, scrub(outcome, matrix_inputs),
                   passed, note.strip()))
    assert passed, f"{outcome}\n--- qgis_process printed:\n{run.output[-4000:]}"


def check_run(run, message=None):
    """A sequential case's run: it succeeded and printed no traceback (or the message)."""
    assert "Traceback" not in run[1], "a Python traceback was printed"
    assert run[0] == 0, f"failed: {error_message(run[1])}"
    if message:
        assert message in run[1], f"{message!r} not printed"


def scrub(text, inputs):
    """Outcome text without this run's temporary folders and names (the table reads the same)."""
    text = text.replace(str(inputs["root"]) + os.sep, "").replace("rasters" + os.sep, "")
    return re.sub(r"\.[0-9a-f]{8}\.tmp\.", ".<random>.tmp.", text)


def record(report, key, algorithm, check, note):
    try:
        outcome, passed = check(), True
    except AssertionError as err:
        outcome, passed = f"FAILED: {err}", False
    report.add(Row(key, key.split("/")[0], algorithm, "output", outcome, passed, note))
    assert passed, outcome


def count_features(path):
    dataset = ogr.Open(str(path))
    return dataset.GetLayer(0).GetFeatureCount()


def index_files(cache):
    return sorted(Path(cache).glob("*.tlindex.npz"))


def leftovers(folder):
    return [p.name for p in Path(folder).rglob("*") if ".tmp" in p.name]


def test_concurrent_buildindex_then_search(qgis_process, matrix_inputs, tmp_path, report):
    """Two buildindex runs on one raster at once: both succeed, one valid index is cached
    (written under a temporary name and renamed), and textsearch then reuses it."""
    from terralens.plugin.core.index import TileIndex

    cache = tmp_path / "cache"
    common = [f"INPUT={matrix_inputs['raster']['type_UInt16']}", f"MODEL={matrix_inputs['tiny']}",
              f"CACHE_DIR={cache}"]
    runs = [None, None]

    def build(slot):
        runs[slot] = run_qgis(qgis_process, ["run", "terralens:buildindex", "--", *common])

    threads = [threading.Thread(target=build, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    def both_built():
        for run in runs:
            check_run(run, "TILES:\t4")
        assert len(index_files(cache)) == 1 and not leftovers(cache), os.listdir(cache)
        assert len(TileIndex.load(index_files(cache)[0])) == 4
        return "both runs: 4 tiles; one cached index of 4 tiles, no temporary file"

    record(report, "index_concurrent/buildindex x2", "buildindex x2 at once", both_built,
           "both runs write the same index atomically; the last rename wins")
    hits = tmp_path / "hits.gpkg"
    search = run_qgis(qgis_process, ["run", "terralens:textsearch", "--", *common,
                                     "QUERY=houses", f"OUTPUT={hits}"])
    def reused():
        check_run(search, "reused")
        return f"the index was reused; {count_features(hits)} hits"

    record(report, "index_concurrent/textsearch", "textsearch", reused,
           "the cached index is reused")


def test_truncated_cached_index_is_rebuilt(qgis_process, matrix_inputs, tmp_path, report):
    """A cached index cut in half (a full disk, a killed copy) is detected and rebuilt."""
    from terralens.plugin.core.index import TileIndex

    cache = tmp_path / "cache"
    common = [f"INPUT={matrix_inputs['raster']['type_UInt16']}", f"MODEL={matrix_inputs['tiny']}",
              f"CACHE_DIR={cache}"]
    check_run(run_qgis(qgis_process, ["run", "terralens:buildindex", "--", *common]))
    (path,) = index_files(cache)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    search = run_qgis(qgis_process, ["run", "terralens:textsearch", "--", *common,
                                     f"QUERY={LONG_TEXT[:40]}", f"OUTPUT={tmp_path / 'h.gpkg'}"])

    def rebuilt():
        check_run(search, "was unreadable: it is rebuilt")
        assert len(TileIndex.load(path)) == 4 and not leftovers(cache)
        return "a warning, then a valid index of 4 tiles in place of the cut one"

    record(report, "index_truncated/textsearch", "textsearch", rebuilt,
           "an unreadable index is rebuilt in place, with a warning. **Fixed:** "
           "a cut-short index raised zipfile.BadZipFile, which escaped as a Python traceback")
