"""What changed: two rasters of one place at two dates, compared tile by tile."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)

from ..common.result_layers import result_name
from ..core.pipeline.change import detect_changes
from .base import TerraLensAlgorithm

BEFORE, AFTER, OUTPUT, HEATMAP = "BEFORE", "AFTER", "OUTPUT", "HEATMAP"


class ChangeDetection(TerraLensAlgorithm):
    """Per-tile change between two dates, a threshold that adapts to the scene, labels."""

    NAME, DISPLAY = "changedetection", "What changed (two dates)"
    LABELS, THRESHOLD, BANDS_AFTER = "LABELS", "THRESHOLD", "BANDS_AFTER"
    CACHE_DIR, CHANGED, COMPARED, USED = "CACHE_DIR", "CHANGED", "COMPARED", "THRESHOLD_USED"

    def initParameters(self):
        self.addParameter(QgsProcessingParameterRasterLayer(BEFORE, self.tr("Before (earlier "
                                                                            "raster)")))
        self.addParameter(QgsProcessingParameterRasterLayer(AFTER, self.tr("After (later raster "
                                                                           "of the same place)")))
        self.addParameter(QgsProcessingParameterString(
            self.LABELS, self.tr("Labels for each tile before and after (comma separated, "
                                 "optional)"), multiLine=True, optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.THRESHOLD, self.tr("Change threshold, 1 - cosine (0: adapted to the scene)"),
            QgsProcessingParameterNumber.Double, 0.0, minValue=0.0, maxValue=2.0))
        self.add_area_parameters()
        self.add_advanced(QgsProcessingParameterString(
            self.BANDS_AFTER,
            self.tr("Bands of the after raster (empty: as for the before raster)"),
            optional=True))
        self.add_advanced(QgsProcessingParameterFile(
            self.CACHE_DIR, self.tr("Index cache folder (empty: your user cache)"),
            behavior=QgsProcessingParameterFile.Folder, optional=True))
        self.add_model_parameters()
        self.addParameter(QgsProcessingParameterVectorDestination(
            OUTPUT, self.tr("Tiles with their change"), QgsProcessing.TypeVectorPolygon))
        self.addParameter(QgsProcessingParameterRasterDestination(
            HEATMAP, self.tr("Change heat-map"), optional=True, createByDefault=True))
        self.addOutput(QgsProcessingOutputNumber(self.CHANGED, self.tr("Tiles changed")))
        self.addOutput(QgsProcessingOutputNumber(self.COMPARED, self.tr("Tiles compared")))
        self.addOutput(QgsProcessingOutputNumber(self.USED, self.tr("Threshold used")))

    def run_job(self, parameters, context, feedback):
        before = self.parameterAsRasterLayer(parameters, BEFORE, context)
        after = self.parameterAsRasterLayer(parameters, AFTER, context)
        paths = self.raster_path(before, BEFORE), self.raster_path(after, AFTER)
        labels = self.parameterAsString(parameters, self.LABELS, context).strip() or None
        out = self.parameterAsOutputLayer(parameters, OUTPUT, context)
        heatmap = self.parameterAsOutputLayer(parameters, HEATMAP, context) or None
        summary = detect_changes(
            *paths, self.model(parameters, context), out, heatmap,
            self.tile_settings(parameters, context, before), labels=labels,
            threshold=self.parameterAsDouble(parameters, self.THRESHOLD, context) or None,
            bands_after=self.parameterAsString(parameters, self.BANDS_AFTER, context).strip()
            or None, cache_dir=self.parameterAsFile(parameters, self.CACHE_DIR, context) or None,
            control=self.control(feedback))
        feedback.pushInfo(
            f"{summary['tiles_changed']} of {summary['tiles_compared']} tiles changed "
            f"(threshold {summary['threshold']:.3f}, {summary['threshold_rule']}); "
            f"{summary['tiles_in_one_only']} tiles with valid pixels in one raster only, "
            f"{summary['tiles_not_compared']} left out as nodata covers them differently")
        subject = f"{before.name()} → {after.name()}"
        before, after = before.name(), after.name()
        results = self.styled_results(context, [
            (OUTPUT, out, "changes", result_name("Changes", subject, [before, after])),
            (HEATMAP, heatmap, "change", result_name("Change", subject, [before, after]))])
        return {**results, self.CHANGED: summary["tiles_changed"],
                self.COMPARED: summary["tiles_compared"], self.USED: summary["threshold"]}
