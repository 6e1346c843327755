"""Draw the TerraLens icons into resources/: the plugin icon and one a toolbar action."""

import os
import sys
from pathlib import Path

from qgis.PyQt.QtCore import QPointF, QRectF, Qt
from qgis.PyQt.QtGui import QColor, QGuiApplication, QImage, QPainter, QPainterPath, QPen

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
OUT = RESOURCES / "icon.png"
INK = "#1d2b3a"
TILE_COLOURS = ["#3c7d3a", "#8fb36b", "#d9c27a", "#4a88b8"]


def canvas(size):
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    return image, painter


def tiles(p, size, cells=3, origin=2.0, span=None):
    """A grid of map tiles in the TerraLens colours."""
    cell = (span or size * 0.75) / cells
    for row in range(cells):
        for col in range(cells):
            p.fillRect(QRectF(origin + col * cell, origin + row * cell, cell - 1, cell - 1),
                       QColor(TILE_COLOURS[(row * cells + col) % 4]))


def lens(p, size, centre=0.55, radius=0.25):
    p.setPen(QPen(QColor(INK), size / 12))
    p.setBrush(QColor(255, 255, 255, 90))
    p.drawEllipse(QPointF(size * centre, size * centre), size * radius, size * radius)
    handle = centre + radius * 0.72
    p.drawLine(QPointF(size * handle, size * handle), QPointF(size * 0.94, size * 0.94))


def draw(size=64):
    """The plugin icon: a map tile seen through a lens."""
    image, p = canvas(size)
    tiles(p, size)
    lens(p, size)
    p.end()
    return image


def draw_label(size=64):
    """Label tiles: the tile grid with a luggage tag on it."""
    image, p = canvas(size)
    tiles(p, size)
    tag = QPainterPath()
    tag.moveTo(size * 0.42, size * 0.55)
    tag.lineTo(size * 0.62, size * 0.35)
    tag.lineTo(size * 0.95, size * 0.35)
    tag.lineTo(size * 0.95, size * 0.75)
    tag.lineTo(size * 0.62, size * 0.75)
    tag.closeSubpath()
    p.setPen(QPen(QColor(INK), size / 24))
    p.setBrush(QColor("#f6d55c"))
    p.drawPath(tag)
    p.setBrush(QColor(INK))
    p.drawEllipse(QPointF(size * 0.62, size * 0.55), size * 0.05, size * 0.05)
    p.end()
    return image


def draw_examples(size=64):
    """Label from examples: the tile grid with two map pins, one a class colour."""
    image, p = canvas(size)
    tiles(p, size)
    p.setPen(QPen(QColor(INK), size / 24))
    for (x, y), colour in (((0.35, 0.3), "#f6d55c"), ((0.72, 0.62), "#e8590c")):
        pin = QPainterPath()
        pin.moveTo(size * x, size * (y + 0.3))
        pin.lineTo(size * (x - 0.11), size * (y + 0.08))
        pin.arcTo(QRectF(size * (x - 0.13), size * (y - 0.14), size * 0.26, size * 0.26),
                  200, -220)
        pin.closeSubpath()
        p.setBrush(QColor(colour))
        p.drawPath(pin)
        p.setBrush(QColor(INK))
        p.drawEllipse(QPointF(size * x, size * (y - 0.01)), size * 0.04, size * 0.04)
    p.end()
    return image


def draw_search(size=64):
    """Text search: a lens over a tile, with lines of text beside it."""
    image, p = canvas(size)
    p.setPen(QPen(QColor(INK), size / 16, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    for number, width in enumerate((0.9, 0.6, 0.75)):
        y = size * (0.1 + 0.12 * number)
        p.drawLine(QPointF(size * 0.06, y), QPointF(size * width, y))
    tiles(p, size, cells=2, origin=size * 0.3, span=size * 0.45)
    lens(p, size, centre=0.55, radius=0.22)
    p.end()
    return image


def draw_segment(size=64):
    """Segment by prompt: the tile grid with an outlined mask region."""
    image, p = canvas(size)
    tiles(p, size, span=size - 4)
    mask = QPainterPath()
    points = [(0.2, 0.3), (0.5, 0.15), (0.8, 0.3), (0.85, 0.65), (0.55, 0.85), (0.25, 0.7)]
    mask.moveTo(size * points[0][0], size * points[0][1])
    for x, y in points[1:]:
        mask.lineTo(size * x, size * y)
    mask.closeSubpath()
    p.setPen(QPen(QColor("#e8590c"), size / 14))
    p.setBrush(QColor(232, 89, 12, 110))
    p.drawPath(mask)
    p.end()
    return image


def draw_panel(size=64):
    """The Search panel: a window with a docked list on its right and a small lens."""
    image, p = canvas(size)
    p.setPen(QPen(QColor(INK), size / 24))
    p.setBrush(QColor("#ffffff"))
    p.drawRect(QRectF(size * 0.05, size * 0.1, size * 0.9, size * 0.8))
    tiles(p, size, cells=2, origin=size * 0.1, span=size * 0.45)
    p.setBrush(QColor("#dbe4ee"))
    p.drawRect(QRectF(size * 0.6, size * 0.1, size * 0.35, size * 0.8))
    p.setPen(QPen(QColor(INK), size / 20, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    for number in range(4):
        y = size * (0.25 + 0.15 * number)
        p.drawLine(QPointF(size * 0.67, y), QPointF(size * 0.88, y))
    p.end()
    return image


def draw_models(size=64):
    """Models: a small network of nodes."""
    image, p = canvas(size)
    layers = [[0.25, 0.5, 0.75], [0.35, 0.65], [0.5]]
    xs = [0.15, 0.5, 0.85]
    p.setPen(QPen(QColor("#5c6f82"), size / 32))
    for (x0, col0), (x1, col1) in zip(zip(xs, layers), zip(xs[1:], layers[1:])):
        for y0 in col0:
            for y1 in col1:
                p.drawLine(QPointF(size * x0, size * y0), QPointF(size * x1, size * y1))
    p.setPen(QPen(QColor(INK), size / 24))
    for x, column in zip(xs, layers):
        for y, colour in zip(column, TILE_COLOURS):
            p.setBrush(QColor(colour))
            p.drawEllipse(QPointF(size * x, size * y), size * 0.1, size * 0.1)
    p.end()
    return image


ICONS = {"icon.png": draw, "label.png": draw_label, "examples.png": draw_examples,
         "search.png": draw_search,
         "segment.png": draw_segment, "panel.png": draw_panel, "models.png": draw_models}


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QGuiApplication(sys.argv)
    RESOURCES.mkdir(exist_ok=True)
    for name, painter in ICONS.items():
        painter().save(str(RESOURCES / name))
        print(RESOURCES / name)
