"""QGIS entry point of the TerraLens plugin: `classFactory` builds the plugin object lazily."""


def classFactory(iface):  # noqa: N802 (name fixed by QGIS)
    """Return the plugin object; `iface` may be None (qgis_process, tests)."""
    from .plugin.common.packages import activate

    activate()  # the packages folder joins sys.path before anything imports onnxruntime
    from .plugin.gui.plugin import TerraLensPlugin

    return TerraLensPlugin(iface)
