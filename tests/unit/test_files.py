"""Durable replacement of a file (hashlist.files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hashlist.files import write_durably


def test_a_file_is_replaced_whole_and_readable(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint"
    target.write_bytes(b"old")
    write_durably(target, b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o644  # a web server's worker reads it
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint"]


def test_a_failed_replacement_leaves_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    target = tmp_path / "tile"
    target.mkdir()  # a file cannot be renamed over a directory
    with pytest.raises(OSError, match="directory"):
        write_durably(target, b"data")
    assert [p.name for p in tmp_path.iterdir()] == ["tile"]
