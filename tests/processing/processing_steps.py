"""Running TerraLens algorithms in the Processing tests: a feedback that records, run, read."""

from qgis.core import QgsProcessingFeedback, QgsVectorLayer


class Recorder(QgsProcessingFeedback):
    """Feedback that keeps the info lines and warnings an algorithm gives."""

    def __init__(self):
        super().__init__()
        self.infos, self.warnings = [], []

    def pushInfo(self, text):  # noqa: N802 (QGIS API)
        self.infos.append(text)

    def pushWarning(self, text):  # noqa: N802
        self.warnings.append(text)


def run(algorithm, feedback=None, **parameters):
    """processing.run of a TerraLens algorithm."""
    import processing

    return processing.run(f"terralens:{algorithm}", parameters, feedback=feedback)


def rows(path):
    """(layer, its features by rank) of a search result file."""
    layer = QgsVectorLayer(str(path), "out", "ogr")
    assert layer.isValid(), path
    return layer, sorted(layer.getFeatures(), key=lambda f: f["rank"])
