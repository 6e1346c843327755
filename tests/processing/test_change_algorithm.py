"""terralens:changedetection through processing.run: what changed between two dates, refusals."""

import csv

import pytest
from processing_steps import run
from qgis.core import QgsProcessingException, QgsVectorLayer

from terralens.plugin.core.outputs import read_metadata

pytestmark = pytest.mark.usefixtures("provider")


@pytest.fixture(scope="module")
def demo_pair(repo_root):
    data = repo_root / "demo" / "data"
    with open(data / "ucm_mosaic_after_truth.csv", encoding="utf-8") as handle:
        changed = sum(r["changed"] == "1" for r in csv.DictReader(handle))
    return str(data / "ucm_mosaic.tif"), str(data / "ucm_mosaic_after.tif"), changed


def test_changedetection_writes_changes_labels_and_heatmap(tmp_path, repo_root, demo_pair):
    before, after, truly_changed = demo_pair
    model = str(repo_root / "models" / "terralens-effnet-minilm-v1")
    result = run("changedetection", BEFORE=before, AFTER=after, MODEL=model,
                 LABELS="forest, buildings, farmland, houses, road, water",
                 CACHE_DIR=str(tmp_path / "cache"), OUTPUT=str(tmp_path / "changes.gpkg"),
                 HEATMAP=str(tmp_path / "change.tif"))
    layer = QgsVectorLayer(result["OUTPUT"], "changes", "ogr")
    assert layer.crs().authid() == "EPSG:32616" and layer.featureCount() == 25
    for field in ("change", "changed", "label_before", "label_after", "transition"):
        assert field in layer.fields().names()
    assert result["COMPARED"] == 25
    assert truly_changed <= result["CHANGED"] <= truly_changed + 1
    marked = [f for f in layer.getFeatures() if f["changed"]]
    assert min(f["change"] for f in marked) > result["THRESHOLD_USED"]
    assert read_metadata(result["HEATMAP"])["threshold_rule"] == "adaptive"


def test_changedetection_refuses_rasters_of_other_places_or_bands(tmp_path, shared_data, tiny,
                                                                  demo_pair):
    folder = shared_data / "scenes" / "satclip_s2"
    common = {"MODEL": tiny, "CACHE_DIR": str(tmp_path), "OUTPUT": str(tmp_path / "x.gpkg")}
    with pytest.raises(QgsProcessingException, match="do not overlap"):
        run("changedetection", BEFORE=str(folder / "patch_75123.tif"),
            AFTER=str(folder / "patch_70975.tif"), **common)
    with pytest.raises(QgsProcessingException, match="different band sets"):
        run("changedetection", BEFORE=str(folder / "patch_75123.tif"), AFTER=demo_pair[0],
            **common)
    assert not (tmp_path / "x.gpkg").exists()
