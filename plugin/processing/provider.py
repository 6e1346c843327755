"""The `terralens` Processing provider: the list of algorithms the toolbox and qgis_process see."""

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..common.resources import ICON_PATH, PROVIDER_ID


def algorithm_classes():
    """Algorithm classes offered by the provider."""
    from .algorithms import ALGORITHMS
    from .change_algorithm import ChangeDetection
    from .example_algorithms import LabelFromExamples
    from .example_search_algorithms import SearchByExample

    return ALGORITHMS + [LabelFromExamples, SearchByExample, ChangeDetection]


class TerraLensProvider(QgsProcessingProvider):
    """Processing provider with id `terralens`."""

    def id(self):  # noqa: D102
        return PROVIDER_ID

    def name(self):  # noqa: D102
        return "TerraLens"

    def longName(self):  # noqa: D102, N802
        return "TerraLens: ask rasters questions in words"

    def icon(self):  # noqa: D102
        return QIcon(str(ICON_PATH))

    def supportedOutputVectorLayerExtensions(self):  # noqa: D102
        # what the core's writer makes: the toolbox offers only these (the writer refuses
        # others by name when a qgis_process user types one)
        from ..core.outputs import VECTOR_DRIVERS

        return [suffix[1:] for suffix in VECTOR_DRIVERS]  # GeoPackage first: the default

    def supportedOutputRasterLayerExtensions(self):  # noqa: D102
        from ..core.outputs import RASTER_SUFFIXES

        return [suffix[1:] for suffix in RASTER_SUFFIXES]

    def supportsNonFileBasedOutput(self):  # noqa: D102
        return False  # GDAL writes every output to a file: no memory layers

    def loadAlgorithms(self):  # noqa: D102, N802
        for algorithm_class in algorithm_classes():
            self.addAlgorithm(algorithm_class())
