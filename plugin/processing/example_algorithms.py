"""Label tiles from examples: points or polygons with a class field teach the classes."""

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterString,
)

from ..common.result_layers import result_name
from ..core import pipeline
from .algorithms import INPUT, OUTPUT, IndexingAlgorithm
from .label_parameters import (
    CLASS_RASTER,
    MIN_SCORE,
    REFINE,
    REFINED_TILES,
    TOP_K,
    LabelParameters,
    label_counts_text,
)


class LabelFromExamples(LabelParameters, IndexingAlgorithm):
    """Label every tile of rasters with the classes of example points or polygons."""

    NAME, DISPLAY = "labelfromexamples", "Label tiles from examples"
    EXAMPLES, CLASS_FIELD, LABELS = "EXAMPLES", "CLASS_FIELD", "LABELS"
    NAMES_AS_TEXT, EXAMPLE_RASTERS, ACCURACY = "CLASS_NAMES_AS_TEXT", "EXAMPLE_RASTERS", "ACCURACY"

    def initParameters(self):
        self.addParameter(QgsProcessingParameterMultipleLayers(
            INPUT, self.tr("Rasters to label"), QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.EXAMPLES, self.tr("Examples (points or polygons, any CRS)"),
            [QgsProcessing.TypeVectorPoint, QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterField(
            self.CLASS_FIELD, self.tr("Class field of the examples"),
            parentLayerParameterName=self.EXAMPLES))
        self.addParameter(QgsProcessingParameterString(
            self.LABELS, self.tr("Text labels (optional): words for classes, e.g. 'forest, "
                                 "3=open water'; new words add classes known by text alone"),
            multiLine=True, optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.NAMES_AS_TEXT, self.tr("Use class names as text labels too"), True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.EXAMPLE_RASTERS, self.tr("Rasters the examples lie on (empty: the rasters to "
                                          "label)"), QgsProcessing.TypeRaster, optional=True))
        self.add_top_labels_parameters()
        self.add_area_parameters()
        self.add_cache_parameter()
        self.add_model_parameters()
        self.add_label_outputs("Class raster of the first raster (one class number a tile)")
        self.addOutput(QgsProcessingOutputNumber(
            self.ACCURACY, self.tr("Accuracy of the examples, each classified without it "
                                   "(leave-one-out; 10-fold with 8+ a class) (%; -1: none "
                                   "could be left out)")))

    def run_job(self, parameters, context, feedback):
        examples = self.examples(parameters, context)
        model = self.model(parameters, context)
        labelled = self.parameterAsLayerList(parameters, INPUT, context)
        ids = {layer.id() for layer in labelled}
        holding = self.parameterAsLayerList(parameters, self.EXAMPLE_RASTERS, context)
        extra = [layer for layer in holding if layer.id() not in ids]
        indexes, _ = self.indexes(parameters, context, feedback, model, labelled + extra)
        by_layer = {layer.id(): index for layer, index in zip(labelled + extra, indexes)}
        out = self.parameterAsOutputLayer(parameters, OUTPUT, context)
        class_raster = self.parameterAsOutputLayer(parameters, CLASS_RASTER, context) or None
        names = [layer.name() for layer in labelled]
        options = pipeline.LabelOptions(
            top_k=self.parameterAsInt(parameters, TOP_K, context),
            min_score=self.parameterAsDouble(parameters, MIN_SCORE, context),
            class_raster_path=class_raster, raster_names=names,
            refine=self.parameterAsBoolean(parameters, REFINE, context))
        summary = pipeline.label_from_examples(
            indexes[:len(labelled)], model, examples, out,
            text_labels=self.parameterAsString(parameters, self.LABELS, context),
            class_names_as_text=self.parameterAsBoolean(parameters, self.NAMES_AS_TEXT, context),
            options=options, example_indexes=[by_layer[layer.id()] for layer in holding] or None,
            control=self.control(feedback))
        log_summary(feedback, summary)
        subject = ", ".join(summary["classes"])
        results = self.styled_results(context, [
            (OUTPUT, out, "labels", result_name("Labels from examples", subject, names)),
            (CLASS_RASTER, class_raster, "classes", result_name("Classes", subject, names[:1]))],
            labels=summary["classes"])
        accuracy = summary["validation"]["accuracy"]
        changed = sum(r["changed_tiles"] for r in summary["refinement"])
        return {**results, self.ACCURACY: -1.0 if accuracy is None else accuracy,
                REFINED_TILES: changed}

    def examples(self, parameters, context):
        """The example layer as a core ExampleSet (geometries in the layer's CRS)."""
        source = self.parameterAsSource(parameters, self.EXAMPLES, context)
        if source is None:
            raise QgsProcessingException(self.tr("choose a layer of example points or polygons"))
        field = self.parameterAsString(parameters, self.CLASS_FIELD, context)
        names = source.fields().names()
        if field not in names:
            raise QgsProcessingException(self.tr(
                f"the example layer has no field {field!r}: choose the class field among "
                f"{', '.join(names) or 'its fields (it has none)'}"))
        geometries, classes, ids = [], [], []
        for feature in source.getFeatures():
            geometry = feature.geometry()
            if geometry.isNull() or geometry.isEmpty():
                continue
            geometries.append(geometry.asWkt())
            classes.append(class_text(feature[field]))
            ids.append(feature.id())
        if not geometries:
            raise QgsProcessingException(self.tr(
                "the example layer has no geometry: add points or polygons on tiles of each "
                "class (or select some and untick 'Selected features only')"))
        crs = source.sourceCrs()
        crs_wkt = crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL) \
            if crs.isValid() else None
        return pipeline.ExampleSet(geometries, classes, crs_wkt, ids)


def class_text(value):
    """A class field's value as text: None for NULL, whole numbers without decimals."""
    if value is None or (hasattr(value, "isNull") and value.isNull()):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


def log_summary(feedback, summary):
    """The examples used, the classifier and the leave-one-out accuracy per class."""
    counts, validation = summary["examples"], summary["validation"]
    classifier = summary["classifier"]
    temperature = classifier.get("score_temperature", 1.0)
    scaled = (f", scores scaled by 1/{temperature:.2f} to fit the examples" if temperature != 1.0
              else "")
    feedback.pushInfo(f"{counts['used']} of {counts['given']} examples used ({counts['tiles']} "
                      f"tiles); classes: {', '.join(summary['classes'])}; classifier: "
                      f"{classifier['method']}, text weight {classifier['text_weight']:.1f}"
                      f"{scaled}")
    accuracy = validation["accuracy"]
    feedback.pushInfo(f"Accuracy of the examples, {validation['method']}: "
                      + (f"{accuracy:.1f} % of {validation['validated']} examples"
                         if accuracy is not None else "none could be left out (one example a "
                                                      "class)"))
    for name, result in validation["per_class"].items():
        share = (f"{result['accuracy']:.1f} % of {result['validated']}"
                 if result["accuracy"] is not None else "not measured")
        feedback.pushInfo(f"  {name}: {result['examples']} examples, {share}")
    refined = summary["refinement"]
    feedback.pushInfo(f"{summary['tiles']} tiles labelled; "
                      + (f"refinement changed {sum(r['changed_tiles'] for r in refined)} of "
                         "them; " if refined
                         else f"not refined ({summary['refinement_skipped']}); ")
                      + f"tiles a best label: {label_counts_text(summary['label_counts'])}")
