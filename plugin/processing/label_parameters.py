"""Parameters every labelling algorithm shares: top labels, minimum score, refinement, the
labelled tiles and the class raster."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterVectorDestination,
)

OUTPUT, TOP_K, MIN_SCORE, CLASS_RASTER = "OUTPUT", "TOP_K", "MIN_SCORE", "CLASS_RASTER"
REFINE, REFINED_TILES = "REFINE", "REFINED_TILES"


def label_counts_text(counts):
    """"farmland 7, forest 5, water 1": tiles a best label, most first, for the log."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{label} {count}" for label, count in ranked) or "none"


def skipped_why(summary):
    """Why the run's skipped tiles were left out: "nodata", or "nodata or one value: 4 of one
    value"."""
    flat = summary.get("tiles_flat") or 0
    return f"nodata or one value: {flat} of one value" if flat else "nodata"


class LabelParameters:
    """Mixin for TerraLensAlgorithm subclasses that write labelled tiles."""

    def add_top_labels_parameters(self):
        self.addParameter(QgsProcessingParameterNumber(
            TOP_K, self.tr("Top labels kept"), QgsProcessingParameterNumber.Integer, 3,
            minValue=1, maxValue=3))
        self.addParameter(QgsProcessingParameterNumber(
            MIN_SCORE, self.tr("Minimum score (below: 'unknown')"),
            QgsProcessingParameterNumber.Double, 0.0, minValue=0.0, maxValue=1.0))
        self.addParameter(QgsProcessingParameterBoolean(
            REFINE, self.tr("Refine labels with the whole raster (transductive)"), True))

    def add_label_outputs(self, class_raster_text="Class raster (one class number a tile, "
                                                  "named by label)"):
        self.addParameter(QgsProcessingParameterVectorDestination(
            OUTPUT, self.tr("Labelled tiles"), QgsProcessing.TypeVectorPolygon))
        # created by default: QGIS 3.22 never enables "Open output file" for an optional
        # output that starts skipped, even after a file is chosen
        self.addParameter(QgsProcessingParameterRasterDestination(
            CLASS_RASTER, self.tr(class_raster_text), optional=True, createByDefault=True))
        self.addOutput(QgsProcessingOutputNumber(
            REFINED_TILES, self.tr("Tiles whose label refinement changed")))
