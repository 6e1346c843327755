"""Draw the TerraLens icon (resources/icon.png): a map tile seen through a lens."""

import os
import sys
from pathlib import Path

from qgis.PyQt.QtCore import QPointF, QRectF, Qt
from qgis.PyQt.QtGui import QColor, QGuiApplication, QImage, QPainter, QPen

OUT = Path(__file__).resolve().parents[1] / "resources" / "icon.png"


def draw(size=64):
    image = QImage(size, size, QImage.Format_ARGB32)
    image.fill(Qt.transparent)
    p = QPainter(image)
    p.setRenderHint(QPainter.Antialiasing)
    cell = size / 4
    colours = ["#3c7d3a", "#8fb36b", "#d9c27a", "#4a88b8"]
    for row in range(3):
        for col in range(3):
            p.fillRect(QRectF(col * cell + 2, row * cell + 2, cell - 1, cell - 1),
                       QColor(colours[(row * 3 + col) % 4]))
    p.setPen(QPen(QColor("#1d2b3a"), size / 12))
    p.setBrush(QColor(255, 255, 255, 90))
    p.drawEllipse(QPointF(size * 0.55, size * 0.55), size * 0.25, size * 0.25)
    p.drawLine(QPointF(size * 0.73, size * 0.73), QPointF(size * 0.94, size * 0.94))
    p.end()
    return image


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QGuiApplication(sys.argv)
    OUT.parent.mkdir(exist_ok=True)
    draw().save(str(OUT))
    print(OUT)
