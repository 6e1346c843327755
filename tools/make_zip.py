"""Build the plugin zip (committed files only, top folder `terralens/`) and one model-pack zip
per model bundle in models/.

The plugin repository takes zips under 25 MB; a model bundle's ONNX files are larger than that
(the frozen MiniLM text encoder alone is 23-91 MB), so bundles ship as separate model packs
that the plugin's model manager installs. The pack holds the bundle's committed files plus the
files `make setup` builds for it (text.onnx).
"""

import argparse
import subprocess
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP = "terralens"
# Development-only parts of the repository that users of the plugin never need.
EXCLUDED_DIRS = ("training/", "tests/", ".ci/", "tools/", "requirements/", "demo/", "docs/",
                 ".github/")
EXCLUDED_FILES = {"Makefile", "pyproject.toml", ".gitignore", ".gitattributes"}


def committed_files():
    """Paths tracked at HEAD (not the working tree: uncommitted edits never ship)."""
    out = subprocess.run(["git", "ls-tree", "-r", "--name-only", "HEAD"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return [p for p in out.splitlines() if p]


def in_a_bundle(path):
    """True for files inside a model bundle folder (models/<id>/...)."""
    parts = Path(path).parts
    return len(parts) > 2 and parts[0] == "models"


def shipped(path):
    return (not path.startswith(EXCLUDED_DIRS) and path not in EXCLUDED_FILES
            and not in_a_bundle(path)
            and "__pycache__" not in path and not path.endswith(".pyc"))


def write_zip(out, members):
    """Write {archive name: source path} to `out` atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source in sorted(members.items()):
            archive.write(source, name)
    tmp.replace(out)
    return out


def build_plugin_zip(out):
    files = [p for p in committed_files() if shipped(p)]
    return write_zip(out, {f"{TOP}/{p}": ROOT / p for p in files}), len(files)


def build_model_packs(out_dir):
    """One `terralens-model-<id>.zip` a bundle whose built files exist; returns their paths."""
    committed = committed_files()
    packs = []
    for manifest in sorted((ROOT / "models").glob("*/bundle.json")):
        folder = manifest.parent
        if not (folder / "text.onnx").is_file():
            continue  # not built on this machine: `make setup` first
        names = {p for p in committed if Path(p).parent == folder.relative_to(ROOT)}
        names.add(str((folder / "text.onnx").relative_to(ROOT)))
        members = {f"{folder.name}/{Path(p).name}": ROOT / p for p in names}
        packs.append(write_zip(Path(out_dir) / f"terralens-model-{folder.name}.zip", members))
    return packs


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="the plugin zip to write")
    parser.add_argument("--no-models", action="store_true", help="skip the model packs")
    args = parser.parse_args()
    path, count = build_plugin_zip(args.out)
    print(f"{path} ({count} files, {path.stat().st_size / 1e6:.1f} MB)")
    for pack in ([] if args.no_models else build_model_packs(args.out.parent)):
        print(f"{pack} ({pack.stat().st_size / 1e6:.1f} MB)")
