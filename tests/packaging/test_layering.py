"""The layering of DESIGN.md holds, and the README's map of the code says the same.

Imports are read from the source with `ast`, not trusted. Each row of `LAYERS` is one row of
DESIGN.md's table (plus `plugin/common`, which Processing and the GUI share) and one row of the
README's "For developers" map, which this test compares with it.
"""

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "terralens"
QT = ("PyQt5", "PyQt6", "PySide2", "PySide6")
QGIS_GUI = ("qgis.gui", "qgis.utils")
TORCH_SIDE = ("torch", "torchvision", "open_clip", "timm", "rasterio", "geopandas")
PLUGIN = f"{PACKAGE}.plugin"


@dataclass(frozen=True)
class Layer:
    """A folder, what it holds, what it may import (in words) and what it must not import."""

    folder: str
    holds: str
    may_import: str
    never: tuple = ()  # absolute module prefixes, anywhere in the file
    only_lazily: tuple = ()  # module prefixes allowed only inside functions


LAYERS = [
    Layer("__init__.py", "QGIS entry point (`classFactory`)",
          "`plugin.common` and `plugin.gui`, lazily",
          only_lazily=("",)),
    Layer("plugin/gui", "toolbar, menu, Search panel, dialogs, background tasks",
          "everything below, `qgis.gui`, `qgis.PyQt`",
          never=QT + TORCH_SIDE + (f"{PLUGIN}.processing.algorithms",
                                   f"{PLUGIN}.processing.base")),
    Layer("plugin/processing", "Processing provider and algorithms",
          "core, common, `qgis.core`", never=QGIS_GUI + QT + TORCH_SIDE + (f"{PLUGIN}.gui",)),
    Layer("plugin/common", "settings keys, resource paths and layer styles shared by "
          "Processing and the GUI", "core, `qgis.core`",
          never=QGIS_GUI + QT + TORCH_SIDE + (f"{PLUGIN}.gui", f"{PLUGIN}.processing")),
    Layer("plugin/core", "the engine: bundles, tokenizers, encoders, tiling, jobs",
          "numpy, `osgeo`, onnxruntime (lazily)",
          never=("qgis", "processing") + QT + TORCH_SIDE
          + (f"{PLUGIN}.gui", f"{PLUGIN}.processing", f"{PLUGIN}.common"),
          only_lazily=("onnxruntime",)),
    Layer("models", "model bundles (data)", "nothing: no code"),
    Layer("training", "training, export, evaluation (the torch side)",
          "torch, open_clip, timm, `terralens.plugin.core`",
          never=("qgis", "processing") + QT
          + (f"{PLUGIN}.gui", f"{PLUGIN}.processing", f"{PLUGIN}.common")),
]


def module_name(path):
    """`terralens.plugin.core.raster` for ROOT/plugin/core/raster.py (the package's name)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if parts and parts[0] == "training":
        return ".".join(parts)  # the training application is its own top-level package
    return ".".join([PACKAGE] + parts)


def imports(path):
    """(absolute module name, imported inside a function) for every import in a file.

    `from a.b import c` counts as `a.b.c`, so that rules can name submodules.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []

    def visit(node, nested):
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                 ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, inner) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package[:len(package) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module
                found.extend((f"{target}.{alias.name}", inner) for alias in child.names)
            visit(child, inner)

    visit(tree, False)
    return found


def matches(module, prefixes):
    return any(p == "" or module == p or module.startswith(p + ".") for p in prefixes)


def python_files(layer):
    target = ROOT / layer.folder
    return [target] if target.is_file() else sorted(target.rglob("*.py"))


def offences(layer, files):
    found = []
    for path in files:
        for module, lazy in imports(path):
            where = f"{path.relative_to(ROOT)}: {module}"
            if matches(module, layer.never):
                found.append(where)
            elif not lazy and matches(module, layer.only_lazily):
                found.append(where + " (at import time; import it inside a function)")
    return found


@pytest.mark.parametrize("layer", [layer for layer in LAYERS if layer.folder != "models"],
                         ids=lambda layer: layer.folder)
def test_layer_imports_nothing_forbidden(layer):
    files = python_files(layer)
    assert files, f"no Python files in {layer.folder}"
    found = offences(layer, files)
    assert not found, "layering broken:\n" + "\n".join(found)


def test_models_hold_no_code():
    assert not list((ROOT / "models").rglob("*.py"))


def test_processing_and_common_never_use_iface():
    for folder in ("plugin/processing", "plugin/common", "plugin/core"):
        for path in (ROOT / folder).rglob("*.py"):
            assert "iface" not in path.read_text(encoding="utf-8"), path


def test_every_python_folder_belongs_to_a_layer():
    covered = {layer.folder for layer in LAYERS}
    folders = {str(path.parent.relative_to(ROOT)) for path in ROOT.glob("plugin/*/*.py")}
    assert folders <= covered, folders - covered


def test_the_checker_catches_what_it_must(tmp_path, monkeypatch):
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    core = tmp_path / "plugin" / "core"
    core.mkdir(parents=True)
    (core / "bad.py").write_text("import onnxruntime\nfrom ..processing import base\n\n"
                                 "def f():\n    from qgis.core import QgsProject\n")
    (core / "good.py").write_text("def f():\n    import onnxruntime\n")
    training = tmp_path / "training"
    training.mkdir()
    (training / "bad.py").write_text("from terralens.plugin.processing import algorithms\n")
    rules = {layer.folder: layer for layer in LAYERS}
    found = offences(rules["plugin/core"], [core / "bad.py", core / "good.py"])
    assert found == ["plugin/core/bad.py: onnxruntime (at import time; import it inside a "
                     "function)", "plugin/core/bad.py: terralens.plugin.processing.base",
                     "plugin/core/bad.py: qgis.core.QgsProject"]
    assert offences(rules["training"], [training / "bad.py"]) == [
        "training/bad.py: terralens.plugin.processing.algorithms"]
    entry = tmp_path / "__init__.py"
    entry.write_text("import numpy\n\ndef classFactory(iface):\n    from .plugin.gui import x\n")
    assert offences(rules["__init__.py"], [entry]) == [
        "__init__.py: numpy (at import time; import it inside a function)"]


def readme_map():
    """(folder, may import) rows of the README's "For developers" table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## For developers", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and not set(cells[0]) <= set("-"):
            rows.append((cells[0].strip("`").rstrip("/"), cells[2]))
    return rows


def test_readme_map_of_the_code_matches_the_rules():
    assert readme_map() == [(layer.folder, layer.may_import) for layer in LAYERS]
