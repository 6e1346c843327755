"""Atomic writes: the target appears whole or not at all, and no temporary file is left."""

import pytest

from terralens.plugin.core.atomic import atomic_path, atomic_write_bytes, atomic_write_text


def test_target_appears_only_when_the_write_succeeds(tmp_path):
    target = tmp_path / "sub" / "out.gpkg"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.endswith(".tmp.gpkg")
        assert not target.exists() and not tmp.exists()  # the writer creates it
        tmp.write_text("done")
    assert target.read_text() == "done"
    assert [p.name for p in target.parent.iterdir()] == ["out.gpkg"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "index.npz"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["index.npz"]


def test_text_is_written_as_utf8(tmp_path):
    target = tmp_path / "card.md"
    atomic_write_text(target, "forêt, 森林")
    assert target.read_bytes() == "forêt, 森林".encode()
