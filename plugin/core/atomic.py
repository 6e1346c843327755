"""Atomic file writes: write a temporary sibling, then rename, so no reader sees half a file."""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target):
    """Yield a temporary path beside `target`; on success rename it onto `target`, else delete it.

    The temporary file keeps the target's suffix so that format drivers (GDAL/OGR) that pick the
    format from the extension still work.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}",
                                    dir=target.parent)
    os.close(fd)
    os.unlink(tmp_name)  # let the writer create it (some drivers refuse an existing empty file)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(target, text):
    """Write `text` (UTF-8) to `target` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(target, data):
    """Write `data` to `target` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
