"""Build the plugin zip from committed files only, under one top folder `terralens/`."""

import argparse
import json
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


def built_model_files():
    """Model files that `make setup` builds rather than commits (named in a bundle.json)."""
    extra = []
    for manifest in sorted((ROOT / "models").glob("*/bundle.json")):
        bundle = json.loads(manifest.read_text())
        for name in (bundle["image"]["file"], bundle["text"]["file"]):
            path = manifest.parent / name
            if path.is_file():
                extra.append(str(path.relative_to(ROOT)))
    return extra


def shipped(path):
    return (not path.startswith(EXCLUDED_DIRS) and path not in EXCLUDED_FILES
            and "__pycache__" not in path and not path.endswith(".pyc"))


def build_zip(out):
    files = sorted({p for p in committed_files() + built_model_files() if shipped(p)})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(ROOT / path, f"{TOP}/{path}")
    tmp.replace(out)
    return out, len(files)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    path, count = build_zip(parser.parse_args().out)
    print(f"{path} ({count} files, {path.stat().st_size / 1e6:.1f} MB)")
