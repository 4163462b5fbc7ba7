"""A snapshot staged on disk reads back exactly, and never outlives its use."""

from __future__ import annotations

from pathlib import Path

import pytest

from hashlist.signals import SignalText
from node.spill import Spill, remove_stale_spills

S = [SignalText(f"md5:{i:032x}") for i in range(5)]


def test_batches_read_back_in_order(tmp_path: Path) -> None:
    beside = tmp_path / "node.db"
    with Spill(beside) as spill:
        spill.write(S[:3], [1, 2, 2**40])
        spill.write([], [])
        spill.write(S[3:], [7, 8])
        assert spill.rows == 5
        got = [(list(sigs), list(vers)) for sigs, vers, _ in spill.batches()]
        assert got == [(S[:3], [1, 2, 2**40]), ([], []), (S[3:], [7, 8])]
        staged = spill.path
        assert staged.parent == tmp_path
    assert not staged.exists()


def test_the_file_goes_whatever_happens(tmp_path: Path) -> None:
    def interrupted() -> None:
        with Spill(tmp_path / "node.db") as spill:
            spill.write(S, [1] * 5)
            raise RuntimeError("the hub went away mid-snapshot")

    with pytest.raises(RuntimeError):
        interrupted()
    assert list(tmp_path.iterdir()) == []


def test_spills_left_by_a_killed_node_are_removed(tmp_path: Path) -> None:
    beside = tmp_path / "node.db"
    (tmp_path / ".node.db.abc123.spill").write_bytes(b"x" * 100)
    (tmp_path / ".other.db.def.spill").write_bytes(b"y")  # another node's: kept
    assert remove_stale_spills(beside) == 1
    assert [p.name for p in tmp_path.iterdir()] == [".other.db.def.spill"]
