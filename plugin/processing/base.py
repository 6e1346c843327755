"""What every TerraLens algorithm shares: model and tiling parameters, errors, feedback, styles."""

from qgis.core import (
    QgsCoordinateTransform,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QCoreApplication

from ..common.blas_check import slow_blas_warning
from ..common.packages import missing_message
from ..common.settings_keys import default_bundle_setting, user_models_dir
from ..common.styles import style_on_load
from ..core.encoders import MAX_VIEWS
from ..core.run_control import Cancelled, RunControl
from ..core.tiled_raster import DEFAULT_VIEWS, TileSettings
from .help import help_html

MODEL, TILE_SIZE, GSD, OVERLAP = "MODEL", "TILE_SIZE", "GSD", "OVERLAP"
BANDS, VALUE_RANGE, BATCH_SIZE, VALID = "BANDS", "VALUE_RANGE", "BATCH_SIZE", "VALID_FRACTION"
EXTENT, MASK = "EXTENT", "MASK"
ENCODER, LOCATION_WEIGHT, VIEWS = "IMAGE_ENCODER", "LOCATION_WEIGHT", "VIEWS"


_SESSION = {"slow_blas_warned": False}  # what this QGIS process has said already


class TerraLensAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses define `NAME`, `DISPLAY`, `initParameters` and `run_job`."""

    NAME = ""
    DISPLAY = ""

    def tr(self, text):
        return QCoreApplication.translate("TerraLens", text)

    def createInstance(self):
        return type(self)()

    def name(self):
        return self.NAME

    def displayName(self):
        return self.tr(self.DISPLAY)

    def group(self):
        return self.tr("Ask rasters in words")

    def groupId(self):
        return "terralens"

    def shortHelpString(self):
        return help_html(self.NAME)

    def initAlgorithm(self, config=None):
        self.initParameters()

    def processAlgorithm(self, parameters, context, feedback):
        slow = slow_blas_warning()
        if slow and not _SESSION["slow_blas_warned"]:
            feedback.pushWarning(slow)
            _SESSION["slow_blas_warned"] = True
        elif slow:  # one warning a QGIS session is enough (a batch of 50 runs gave 50)
            feedback.pushInfo("numpy still runs on the slow BLAS the first run of this QGIS "
                              "session warned about")
        try:
            return self.run_job(parameters, context, feedback)
        except Cancelled:
            raise QgsProcessingException(self.tr("Cancelled: nothing was written.")) from None
        except QgsProcessingException:
            raise
        except ImportError as err:
            # onnxruntime missing or broken: the same words and command as the desktop shows
            raise QgsProcessingException(missing_message() or str(err)) from None
        except (ValueError, OSError) as err:
            # the core's errors already say what to change; show them without a traceback
            raise QgsProcessingException(str(err)) from None

    # --- shared parameters -------------------------------------------------------------
    def add_advanced(self, parameter):
        parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(parameter)

    def add_area_parameters(self):
        self.addParameter(QgsProcessingParameterExtent(
            EXTENT, self.tr("Limit to extent"), optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            MASK, self.tr("Limit to polygons of layer"), [QgsProcessing.TypeVectorPolygon],
            optional=True))

    def add_model_parameters(self, default_batch=16, views=True):
        self.add_advanced(QgsProcessingParameterFile(
            MODEL, self.tr("Model bundle folder (empty: the default model of TerraLens settings)"),
            behavior=QgsProcessingParameterFile.Folder, optional=True))
        self.add_advanced(QgsProcessingParameterNumber(
            TILE_SIZE, self.tr("Tile size in model pixels (0: the model's default)"),
            QgsProcessingParameterNumber.Integer, 0, minValue=0, maxValue=4096))
        self.add_advanced(QgsProcessingParameterNumber(
            GSD, self.tr("Ground sample distance, metres of ground a model pixel shows "
                         "(-1: automatic, from the raster and the model; 0: the raster's own "
                         "pixels)"),
            QgsProcessingParameterNumber.Double, -1.0, minValue=-1.0))
        self.add_advanced(QgsProcessingParameterNumber(
            OVERLAP, self.tr("Tile overlap (%)"), QgsProcessingParameterNumber.Double, 0.0,
            minValue=0.0, maxValue=90.0))
        self.add_advanced(QgsProcessingParameterString(
            ENCODER, self.tr("Image encoder of the model (auto: the one that fits the raster's "
                             "bands, e.g. rgb, pan, s2)"), "auto", optional=True))
        self.add_advanced(QgsProcessingParameterString(
            BANDS, self.tr("Raster bands feeding the encoder's bands (e.g. 4,3,2; empty: "
                           "automatic)"), optional=True))
        self.add_advanced(QgsProcessingParameterString(
            VALUE_RANGE, self.tr("Value range scaled to 0-1, as min,max (empty: automatic)"),
            optional=True))
        self.add_advanced(QgsProcessingParameterNumber(
            VALID, self.tr("Skip tiles with less valid (non-nodata) area than (%)"),
            QgsProcessingParameterNumber.Double, 50.0, minValue=0.0, maxValue=100.0))
        self.add_advanced(QgsProcessingParameterNumber(
            BATCH_SIZE, self.tr("Tiles encoded together (batch size)"),
            QgsProcessingParameterNumber.Integer, default_batch, minValue=1, maxValue=1024))
        if views:
            self.add_advanced(QgsProcessingParameterNumber(
                VIEWS, self.tr("Rotations of each tile averaged (1-4; 1: fastest; each one "
                               "more adds one encoding of every tile)"),
                QgsProcessingParameterNumber.Integer, DEFAULT_VIEWS, minValue=1,
                maxValue=MAX_VIEWS))

    def add_location_parameter(self):
        self.add_advanced(QgsProcessingParameterNumber(
            LOCATION_WEIGHT, self.tr("Location prior weight (0: off; needs a model with a "
                                     "location encoder and a georeferenced raster)"),
            QgsProcessingParameterNumber.Double, 0.0, minValue=0.0, maxValue=10.0))

    # --- reading shared parameters ------------------------------------------------------
    def model(self, parameters, context):
        from ..core.registry import cached_model

        # empty MODEL: the default chosen in the model manager, else the embedded model
        folder = self.parameterAsFile(parameters, MODEL, context) or default_bundle_setting()
        return cached_model(folder, search_dirs=[user_models_dir()])

    def raster_path(self, layer, name):
        """The file GDAL reads for a raster layer, or a clear error for other providers."""
        if layer is None:
            raise QgsProcessingException(self.tr(f"{name}: choose a raster layer or file"))
        if layer.providerType() != "gdal":
            raise QgsProcessingException(self.tr(
                f"{layer.name()} is a {layer.providerType()} layer; TerraLens reads rasters "
                "through GDAL: save it as a GeoTIFF first (Raster > Conversion > Translate)"))
        return layer.source()

    def tile_settings(self, parameters, context, layer):
        """TileSettings from the shared parameters, with extent and mask in the raster's CRS."""
        gsd = self.parameterAsDouble(parameters, GSD, context)
        settings = TileSettings(
            tile_size=self.parameterAsInt(parameters, TILE_SIZE, context) or None,
            gsd_m=None if gsd < 0 else gsd,
            overlap=self.parameterAsDouble(parameters, OVERLAP, context) / 100.0,
            bands=self.parameterAsString(parameters, BANDS, context).strip() or None,
            value_range=parse_range(self.parameterAsString(parameters, VALUE_RANGE, context)),
            valid_fraction=self.parameterAsDouble(parameters, VALID, context) / 100.0,
            batch_size=self.parameterAsInt(parameters, BATCH_SIZE, context),
            encoder=self.parameterAsString(parameters, ENCODER, context).strip() or None)
        if self.parameterDefinition(VIEWS) is not None:
            settings.views = self.parameterAsInt(parameters, VIEWS, context)
        if parameters.get(EXTENT):
            rect = self.parameterAsExtent(parameters, EXTENT, context, layer.crs())
            settings.extent = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        settings.area_wkt = self.mask_wkt(parameters, context, layer)
        return settings

    def mask_wkt(self, parameters, context, layer):
        """The union of the mask layer's polygons in the raster's CRS, as WKT (or None)."""
        source = self.parameterAsSource(parameters, MASK, context)
        if source is None:
            return None
        transform = QgsCoordinateTransform(source.sourceCrs(), layer.crs(),
                                           context.transformContext())
        geometries = []
        for feature in source.getFeatures():
            geometry = QgsGeometry(feature.geometry())
            if not geometry.isEmpty():
                geometry.transform(transform)
                geometries.append(geometry)
        if not geometries:
            raise QgsProcessingException(self.tr("the mask layer has no polygon"))
        return QgsGeometry.unaryUnion(geometries).asWkt()

    def control(self, feedback):
        """A RunControl reporting to Processing feedback: the bar moves every batch, the log
        gets a line per phase and every warning."""
        def progress(fraction, message):
            feedback.setProgress(100.0 * fraction)
            if message:
                feedback.setProgressText(message)

        return RunControl(progress, feedback.isCanceled, feedback.pushWarning)

    def styled_results(self, context, outputs, labels=None):
        """Style every written (key, path, style, layer name) output; return {key: path}.
        `labels`: the user's label order, which label colours follow."""
        results = {}
        for key, path, style, name in outputs:
            if path:
                self.style_output(context, path, style, name, labels)
                results[key] = path
        return results

    def style_output(self, context, path, style, output_name, labels=None):
        """Style a result layer when QGIS loads it at the end of the run."""
        if context.willLoadLayerOnCompletion(path):
            details = context.layerToLoadOnCompletionDetails(path)
            details.setPostProcessor(style_on_load(style, labels))
            if output_name:
                details.name = output_name
                details.forceName = True  # else QGIS names a file output after the file


def comma_list(text):
    """"a, b ,c" -> ["a", "b", "c"] (empty items dropped)."""
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def parse_range(text):
    """"min,max" -> (min, max) floats; empty -> None."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        low, high = (float(part) for part in text.replace(";", ",").split(","))
    except ValueError:
        raise QgsProcessingException(
            f"value range {text!r} must be two numbers, min,max (for example 0,3000)") from None
    return (low, high)
