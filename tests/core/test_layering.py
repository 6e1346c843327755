"""The layering of DESIGN.md holds: imports are read from the source, not trusted."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = {
    "plugin/core": ("qgis", "PyQt5", "PyQt6", "PySide2", "PySide6", "torch", "open_clip",
                    "timm", "rasterio"),
    "plugin/processing": ("qgis.gui", "qgis.utils"),
    "training": ("qgis", "PyQt5", "PyQt6"),
}
# Relative imports that would climb from one layer into a higher one.
FORBIDDEN_RELATIVE = {
    "plugin/core": ("processing", "gui"),
    "plugin/processing": ("gui",),
}


def imported_modules(path):
    """Absolute module names and relative (level, module) pairs imported anywhere in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    absolute, relative = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            absolute += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                relative.append((node.level, node.module or ""))
            else:
                absolute.append(node.module)
    return absolute, relative


def matches(module, prefixes):
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_forbidden(layer):
    files = sorted((ROOT / layer).rglob("*.py"))
    assert files, f"no Python files under {layer}"
    offences = []
    for path in files:
        absolute, relative = imported_modules(path)
        offences += [f"{path.relative_to(ROOT)}: {m}" for m in absolute
                     if matches(m, FORBIDDEN[layer])]
        offences += [f"{path.relative_to(ROOT)}: {'.' * lvl}{m}" for lvl, m in relative
                     if lvl >= 2 and m.split(".")[0] in FORBIDDEN_RELATIVE.get(layer, ())]
        offences += [f"{path.relative_to(ROOT)}: {m}" for m in absolute
                     if layer != "training" and matches(m, ("terralens.plugin.gui",))]
    assert not offences, "layering broken:\n" + "\n".join(offences)


def test_iface_is_not_used_in_processing():
    for path in (ROOT / "plugin/processing").rglob("*.py"):
        assert "iface" not in path.read_text(encoding="utf-8"), path


def test_checker_catches_a_forbidden_import(tmp_path):
    sample = tmp_path / "bad.py"
    sample.write_text("def f():\n    from qgis.core import QgsProject\n")
    absolute, _ = imported_modules(sample)
    assert matches(absolute[0], FORBIDDEN["plugin/core"])
