"""Search by example: tiles like example points or polygons of a layer, with words to add or
leave out."""

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from ..common.result_layers import result_name
from ..core import pipeline
from ..core.pipeline.example_search import describe_query
from .algorithms import INPUT, OUTPUT, TextSearch
from .base import comma_list


class SearchByExample(TextSearch):
    """Rank the tiles of rasters by their likeness to example geometries (and words)."""

    NAME, DISPLAY = "searchbyexample", "Search by example"
    EXAMPLES, WORDS, WORD_WEIGHT = "EXAMPLES", "WORDS", "WORD_WEIGHT"
    EXAMPLE_RASTERS, KEEP_EXAMPLES = "EXAMPLE_RASTERS", "KEEP_EXAMPLES"

    def initParameters(self):
        self.add_raster_list()
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.EXAMPLES, self.tr("Examples (points or polygons on tiles like the ones you "
                                   "look for)"),
            [QgsProcessing.TypeVectorPoint, QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterString(
            self.WORDS, self.tr("Words to add (comma separated, optional)"), optional=True))
        self.add_exclude_and_count()
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.EXAMPLE_RASTERS, self.tr("Rasters the examples lie on (empty: the rasters "
                                          "searched)"), QgsProcessing.TypeRaster,
            optional=True))
        self.add_advanced(QgsProcessingParameterNumber(
            self.WORD_WEIGHT, self.tr("Say of the words against the examples (1: equal)"),
            QgsProcessingParameterNumber.Double, 1.0, minValue=0.0, maxValue=100.0))
        self.add_advanced(QgsProcessingParameterBoolean(
            self.KEEP_EXAMPLES, self.tr("Rank the example tiles too"), False))
        self.add_area_parameters()
        self.add_cache_parameter()
        self.add_output_crs_parameter()
        self.add_model_parameters()
        self.add_result_outputs()

    def run_job(self, parameters, context, feedback):
        examples, crs_wkt = self.example_geometries(parameters, context)
        words = comma_list(self.parameterAsString(parameters, self.WORDS, context))
        exclude = comma_list(self.parameterAsString(parameters, self.NEGATIVE, context))
        model = self.model(parameters, context)
        searched, holding, extra = self.searched_and_holding(parameters, context)
        indexes, _ = self.indexes(parameters, context, feedback, model, searched + extra)
        by_layer = {layer.id(): index for layer, index in zip(searched + extra, indexes)}
        out = self.parameterAsOutputLayer(parameters, OUTPUT, context)
        heatmap = self.parameterAsOutputLayer(parameters, self.HEATMAP, context) or None
        found = pipeline.search_by_example(
            indexes[:len(searched)], model, examples, crs_wkt, words, exclude,
            self.parameterAsInt(parameters, self.K, context), out, heatmap,
            word_weight=self.parameterAsDouble(parameters, self.WORD_WEIGHT, context),
            crs_wkt=self.output_crs_wkt(parameters, context),
            example_indexes=[by_layer[layer.id()] for layer in holding] or None,
            keep_examples=self.parameterAsBoolean(parameters, self.KEEP_EXAMPLES, context))
        self.log_examples(feedback, found, len(examples))
        names = [layer.name() for layer in searched]
        subject = describe_query(found["examples"], words, exclude)
        return self.styled_results(context, [
            (OUTPUT, out, "search", result_name("Search", subject, names)),
            (self.HEATMAP, heatmap, "heatmap", result_name("Similarity", subject, names[:1]))])

    def example_geometries(self, parameters, context):
        """The examples as WKT in the example layer's CRS, and that CRS as WKT."""
        source = self.parameterAsSource(parameters, self.EXAMPLES, context)
        if source is None:
            raise QgsProcessingException(self.tr("choose a layer of example points or polygons"))
        geometries = [f.geometry() for f in source.getFeatures()]
        examples = [g.asWkt() for g in geometries if not g.isNull() and not g.isEmpty()]
        if not examples:
            raise QgsProcessingException(self.tr(
                "the example layer has no geometry: add points or polygons on tiles like the "
                "ones you look for (or select some and tick 'Selected features only')"))
        crs = source.sourceCrs()
        return examples, (crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL)
                          if crs.isValid() else None)

    def searched_and_holding(self, parameters, context):
        """(rasters searched, rasters holding the examples, those of them not searched)."""
        searched = self.parameterAsLayerList(parameters, INPUT, context)
        holding = self.parameterAsLayerList(parameters, self.EXAMPLE_RASTERS, context)
        ids = {layer.id() for layer in searched}
        return searched, holding, [layer for layer in holding if layer.id() not in ids]

    def log_examples(self, feedback, found, given):
        feedback.pushInfo(f"{found['examples']} of {given} examples used "
                          f"({found['example_tiles']} tiles); {len(found['hits'])} tiles found"
                          + (f", best score {found['hits'][0]['score']:.3f}"
                             if found["hits"] else ""))
        if found["outside"]:
            feedback.pushWarning(
                f"{len(found['outside'])} of {given} examples lie on no tile of the rasters "
                "(outside them, on nodata or tiles of one value, or in a CRS that cannot be "
                "placed there) and were not used")
