"""Write the vector styles in resources/styles/ with QGIS itself (so the QML is always valid)."""

import os
import sys
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsClassificationEqualInterval,
    QgsFillSymbol,
    QgsGradientColorRamp,
    QgsGraduatedSymbolRenderer,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor

OUT = Path(__file__).resolve().parents[1] / "resources" / "styles"


def graduated(field, start, end, classes=5, opacity=0.6):
    symbol = QgsFillSymbol.createSimple({"outline_color": "#202020", "outline_width": "0.2"})
    renderer = QgsGraduatedSymbolRenderer(field)
    renderer.setSourceSymbol(symbol)
    renderer.setSourceColorRamp(QgsGradientColorRamp(QColor(start), QColor(end)))
    renderer.setClassificationMethod(QgsClassificationEqualInterval())
    return renderer, opacity


def save(name, fields, renderer_and_opacity, values):
    layer = QgsVectorLayer(f"Polygon?crs=EPSG:4326&{fields}", name, "memory")
    provider = layer.dataProvider()
    from qgis.core import QgsFeature, QgsGeometry

    for value in values:  # a few features so the classes get breaks
        feature = QgsFeature(layer.fields())
        feature.setGeometry(QgsGeometry.fromWkt("POLYGON((0 0,1 0,1 1,0 0))"))
        feature.setAttribute(1, value)
        provider.addFeature(feature)
    renderer, opacity = renderer_and_opacity
    field_index = layer.fields().indexOf(renderer.classAttribute())
    renderer.updateClasses(layer, 5)
    layer.setRenderer(renderer)
    layer.setOpacity(opacity)
    assert field_index >= 0
    layer.saveNamedStyle(str(OUT / f"{name}.qml"))
    print(OUT / f"{name}.qml")


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QgsApplication([], False)
    app.initQgis()
    OUT.mkdir(parents=True, exist_ok=True)
    save("mask", "field=prompt:string&field=mean_score:double",
         graduated("mean_score", "#c6dbef", "#08306b", opacity=0.7), [0.5, 0.7, 0.9, 1.0])
    sys.exit(0)
