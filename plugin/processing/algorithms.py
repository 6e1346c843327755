"""The four TerraLens algorithms: zero-shot labels, search index, text search, prompt masks."""

from pathlib import Path

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterCrs,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)

from ..common.result_layers import result_name
from ..core import dense_masks, pipeline
from ..core.labels import parse_labels
from .base import LOCATION_WEIGHT, TerraLensAlgorithm, comma_list
from .label_parameters import LabelParameters, label_counts_text, skipped_why

INPUT, OUTPUT = "INPUT", "OUTPUT"


class ZeroShotLabel(LabelParameters, TerraLensAlgorithm):
    """Label every tile with the best of the user's labels."""

    NAME, DISPLAY = "zeroshotlabel", "Label tiles (zero-shot)"
    LABELS, LABELS_FILE, TOP_K, MIN_SCORE = "LABELS", "LABELS_FILE", "TOP_K", "MIN_SCORE"
    TEMPLATES, CLASS_RASTER = "TEMPLATES", "CLASS_RASTER"
    REFINE, REFINED_TILES = "REFINE", "REFINED_TILES"

    def initParameters(self):
        self.addParameter(QgsProcessingParameterRasterLayer(INPUT, self.tr("Raster")))
        # optional for QGIS (a labels file may replace it); checkParameterValues requires one
        self.addParameter(QgsProcessingParameterString(
            self.LABELS, self.tr("Labels, comma or line separated (required unless a labels "
                                 "file is given)"), multiLine=True, optional=True))
        self.addParameter(QgsProcessingParameterFile(
            self.LABELS_FILE, self.tr("…or a text file of labels (one a line)"),
            extension="txt", optional=True))
        self.add_top_labels_parameters()
        self.add_area_parameters()
        self.add_advanced(QgsProcessingParameterString(
            self.TEMPLATES, self.tr("Prompt templates, one a line, {} for the label "
                                    "(empty: the model's)"), multiLine=True, optional=True))
        self.add_location_parameter()
        self.add_model_parameters()
        self.add_label_outputs()

    def checkParameterValues(self, parameters, context):  # noqa: N802 (QGIS API)
        """Refuse a run without labels before it starts (the dialog says why)."""
        text = self.parameterAsString(parameters, self.LABELS, context)
        path = self.parameterAsFile(parameters, self.LABELS_FILE, context)
        if not text.strip() and not path:
            return False, self.tr("Type labels (for example: forest, water, buildings) or "
                                  "choose a labels file")
        return super().checkParameterValues(parameters, context)

    def labels(self, parameters, context):
        text = self.parameterAsString(parameters, self.LABELS, context)
        path = self.parameterAsFile(parameters, self.LABELS_FILE, context)
        if path:
            text = (text + "\n" if text else "") + Path(path).read_text(encoding="utf-8")
        return parse_labels(text)

    def run_job(self, parameters, context, feedback):
        layer = self.parameterAsRasterLayer(parameters, INPUT, context)
        raster = self.raster_path(layer, INPUT)
        labels = self.labels(parameters, context)
        model = self.model(parameters, context)
        out = self.parameterAsOutputLayer(parameters, OUTPUT, context)
        class_raster = self.parameterAsOutputLayer(parameters, self.CLASS_RASTER, context)
        summary = pipeline.label_raster(
            raster, model, labels, out, self.tile_settings(parameters, context, layer),
            templates=self.parameterAsString(parameters, self.TEMPLATES, context) or None,
            top_k=self.parameterAsInt(parameters, self.TOP_K, context),
            min_score=self.parameterAsDouble(parameters, self.MIN_SCORE, context),
            class_raster_path=class_raster or None, control=self.control(feedback),
            location_weight=self.parameterAsDouble(parameters, LOCATION_WEIGHT, context),
            refine=self.parameterAsBoolean(parameters, self.REFINE, context))
        refined = summary["refinement"]
        feedback.pushInfo(f"{summary['tiles_encoded']} tiles labelled, "
                          f"{summary['tiles_skipped']} skipped ({skipped_why(summary)}); "
                          + (f"refinement changed {refined['changed_tiles']} of them; "
                             if refined and refined["ran"] else
                             "not refined (fewer than 2 tiles or labels); " if refined
                             else "not refined (turned off); ")
                          + f"tiles a best label: {label_counts_text(summary['label_counts'])}")
        subject = ", ".join(labels)
        results = self.styled_results(context, [
            (OUTPUT, out, "labels", result_name("Labels", subject, [layer.name()])),
            (self.CLASS_RASTER, class_raster, "classes",
             result_name("Classes", subject, [layer.name()]))], labels=labels)
        return {**results, self.REFINED_TILES: refined["changed_tiles"] if refined else 0}


class IndexingAlgorithm(TerraLensAlgorithm):
    """Shared by buildindex and textsearch: rasters in, cached indexes out."""

    CACHE_DIR, OUTPUT_CRS = "CACHE_DIR", "OUTPUT_CRS"

    def add_raster_list(self):
        self.addParameter(QgsProcessingParameterMultipleLayers(
            INPUT, self.tr("Rasters"), QgsProcessing.TypeRaster))

    def add_cache_parameter(self):
        self.add_advanced(QgsProcessingParameterFile(
            self.CACHE_DIR, self.tr("Index cache folder (empty: your user cache)"),
            behavior=QgsProcessingParameterFile.Folder, optional=True))

    def indexes(self, parameters, context, feedback, model, layers=None):
        """The tile index of every input raster (or of `layers`; core's one indexing route),
        logged."""
        layers = self.parameterAsLayerList(parameters, INPUT, context) if layers is None \
            else layers
        if not layers:
            raise QgsProcessingException(self.tr("choose at least one raster"))
        rasters = [(layer.name(), self.raster_path(layer, INPUT),
                    self.tile_settings(parameters, context, layer)) for layer in layers]
        cache_dir = self.parameterAsFile(parameters, self.CACHE_DIR, context) or None
        results = pipeline.index_rasters(rasters, model, cache_dir, self.control(feedback))
        for result in results:
            feedback.pushInfo(f"{result.name}: {len(result.index)} tiles, "
                              f"{'reused' if result.reused else 'built'} {result.path}")
        return [r.index for r in results], [str(r.path) for r in results]

    def add_output_crs_parameter(self):
        self.add_advanced(QgsProcessingParameterCrs(
            self.OUTPUT_CRS, self.tr("CRS of the results (empty: the first raster's; tiles of "
                                     "rasters in other CRSs are reprojected)"), optional=True))

    def output_crs_wkt(self, parameters, context):
        """The CRS the user chose for the results as WKT, or None for the first raster's."""
        crs = self.parameterAsCrs(parameters, self.OUTPUT_CRS, context)
        return crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL) if crs.isValid() \
            else None


class BuildIndex(IndexingAlgorithm):
    """Embed the tiles of rasters once, for fast text search later."""

    NAME, DISPLAY = "buildindex", "Build search index"
    TILES = "TILES"

    def initParameters(self):
        self.add_raster_list()
        self.add_area_parameters()
        self.add_cache_parameter()
        self.add_model_parameters()
        self.addOutput(QgsProcessingOutputString(OUTPUT, self.tr("Index files")))
        self.addOutput(QgsProcessingOutputNumber(self.TILES, self.tr("Tiles indexed")))

    def run_job(self, parameters, context, feedback):
        model = self.model(parameters, context)
        indexes, paths = self.indexes(parameters, context, feedback, model)
        return {OUTPUT: ";".join(paths), self.TILES: sum(len(i) for i in indexes)}


class TextSearch(IndexingAlgorithm):
    """Rank the tiles of rasters against a free-text query."""

    NAME, DISPLAY = "textsearch", "Text search"
    QUERY, NEGATIVE, K, HEATMAP = "QUERY", "NEGATIVE", "K", "HEATMAP"

    def initParameters(self):
        self.add_raster_list()
        self.addParameter(QgsProcessingParameterString(self.QUERY, self.tr("Query")))
        self.add_exclude_and_count()
        self.add_area_parameters()
        self.add_cache_parameter()
        self.add_location_parameter()
        self.add_output_crs_parameter()
        self.add_model_parameters()
        self.add_result_outputs()

    def add_exclude_and_count(self):
        self.addParameter(QgsProcessingParameterString(
            self.NEGATIVE, self.tr("Exclude (comma separated, optional)"), optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.K, self.tr("Number of results"), QgsProcessingParameterNumber.Integer, 20,
            minValue=1, maxValue=100000))

    def add_result_outputs(self):
        self.addParameter(QgsProcessingParameterVectorDestination(
            OUTPUT, self.tr("Search results"), QgsProcessing.TypeVectorPolygon))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.HEATMAP, self.tr("Similarity heat-map (first raster)"), optional=True,
            createByDefault=True))

    def run_job(self, parameters, context, feedback):
        query = self.parameterAsString(parameters, self.QUERY, context)
        negatives = comma_list(self.parameterAsString(parameters, self.NEGATIVE, context))
        model = self.model(parameters, context)
        if not query.strip():
            raise QgsProcessingException(self.tr("the query is empty: type what you look for"))
        indexes, _ = self.indexes(parameters, context, feedback, model)
        out = self.parameterAsOutputLayer(parameters, OUTPUT, context)
        heatmap = self.parameterAsOutputLayer(parameters, self.HEATMAP, context) or None
        hits = pipeline.search(
            indexes, model, query, negatives, self.parameterAsInt(parameters, self.K, context),
            out, heatmap,
            location_weight=self.parameterAsDouble(parameters, LOCATION_WEIGHT, context),
            crs_wkt=self.output_crs_wkt(parameters, context))
        feedback.pushInfo(f"{len(hits)} tiles found; best score "
                          f"{hits[0]['score']:.3f}" if hits else "no tile found")
        names = [layer.name() for layer in self.parameterAsLayerList(parameters, INPUT, context)]
        return self.styled_results(context, [
            (OUTPUT, out, "search", result_name("Search", query, names)),
            (self.HEATMAP, heatmap, "heatmap", result_name("Similarity", query, names[:1]))])


class PromptMask(TerraLensAlgorithm):
    """Outline the areas matching a prompt as polygons."""

    NAME, DISPLAY = "promptmask", "Segment by prompt"
    PROMPT, THRESHOLD, MIN_AREA, SIMPLIFY = "PROMPT", "THRESHOLD", "MIN_AREA", "SIMPLIFY"
    BACKGROUND, SMOOTH, PROBABILITY = "BACKGROUND", "SMOOTH", "PROBABILITY"
    METHOD, DETAIL, MIN_REGION = "METHOD", "DETAIL", "MIN_REGION"
    METHODS = ("dense", "tiles")  # the order of the METHOD choices

    def initParameters(self):
        self.addParameter(QgsProcessingParameterRasterLayer(INPUT, self.tr("Raster")))
        self.addParameter(QgsProcessingParameterString(self.PROMPT, self.tr("Prompt")))
        self.addParameter(QgsProcessingParameterNumber(
            self.THRESHOLD, self.tr("Threshold (probability; -1: automatic)"),
            QgsProcessingParameterNumber.Double, -1.0, minValue=-1.0, maxValue=1.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.MIN_AREA, self.tr("Minimum polygon area (m²)"),
            QgsProcessingParameterNumber.Double, 0.0, minValue=0.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.SIMPLIFY, self.tr("Simplify tolerance (map units, 0: none)"),
            QgsProcessingParameterNumber.Double, 0.0, minValue=0.0))
        self.add_area_parameters()
        self.add_advanced(QgsProcessingParameterString(
            self.BACKGROUND, self.tr("Background prompts (comma separated; empty: default)"),
            optional=True))
        self.add_advanced(QgsProcessingParameterEnum(
            self.METHOD, self.tr("Method"),
            [self.tr("Dense: overlapping tiles, edges from the image (default)"),
             self.tr("Tiles: one tiling, smoothed (before version 2)")], defaultValue=0))
        self.add_advanced(QgsProcessingParameterNumber(
            self.DETAIL, self.tr("Detail (dense: grid cells a model cell; cost grows with "
                                 "its square)"),
            QgsProcessingParameterNumber.Integer, 1, minValue=1, maxValue=4))
        self.add_advanced(QgsProcessingParameterNumber(
            self.MIN_REGION, self.tr("Smallest region (share of a score cell; 0: keep every "
                                     "pixel)"),
            QgsProcessingParameterNumber.Double, dense_masks.MIN_REGION_SHARE, minValue=0.0,
            maxValue=4.0))
        self.add_advanced(QgsProcessingParameterBoolean(
            self.SMOOTH, self.tr("Smooth along image features (SAO; tiles method)"), True))
        self.add_model_parameters(default_batch=8, views=False)
        self.addParameter(QgsProcessingParameterVectorDestination(
            OUTPUT, self.tr("Mask polygons"), QgsProcessing.TypeVectorPolygon))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.PROBABILITY, self.tr("Mask probability raster"), optional=True,
            createByDefault=True))

    def run_job(self, parameters, context, feedback):
        layer = self.parameterAsRasterLayer(parameters, INPUT, context)
        raster = self.raster_path(layer, INPUT)
        prompt = self.parameterAsString(parameters, self.PROMPT, context)
        background = comma_list(
            self.parameterAsString(parameters, self.BACKGROUND, context)) or None
        model = self.model(parameters, context)
        out = self.parameterAsOutputLayer(parameters, OUTPUT, context)
        probability = self.parameterAsOutputLayer(parameters, self.PROBABILITY, context) or None
        window = 3 if self.parameterAsBoolean(parameters, self.SMOOTH, context) else 1
        summary = pipeline.prompt_mask(
            raster, model, prompt, out, self.tile_settings(parameters, context, layer),
            threshold=self.parameterAsDouble(parameters, self.THRESHOLD, context),
            min_area=self.parameterAsDouble(parameters, self.MIN_AREA, context),
            simplify=self.parameterAsDouble(parameters, self.SIMPLIFY, context),
            background=background,
            method=self.METHODS[self.parameterAsEnum(parameters, self.METHOD, context)],
            detail=self.parameterAsInt(parameters, self.DETAIL, context),
            smooth_window=window, probability_path=probability,
            control=self.control(feedback),
            min_region_share=self.parameterAsDouble(parameters, self.MIN_REGION, context))
        feedback.pushInfo(f"{summary['polygons']} polygons from {summary['tiles_encoded']} "
                          f"tiles; {summary['threshold_rule']}")
        return self.styled_results(context, [
            (OUTPUT, out, "mask", result_name("Mask", prompt, [layer.name()])),
            (self.PROBABILITY, probability, "probability",
             result_name("Probability", prompt, [layer.name()]))])


ALGORITHMS = [ZeroShotLabel, BuildIndex, TextSearch, PromptMask]
