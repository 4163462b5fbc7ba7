"""The hub's tile writer on its own: what it refuses and how it recovers (server.tiles)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from hashlist.checkpoint import Checkpoint
from hashlist.errors import StorageError
from hashlist.log import ListLog
from hashlist.merkle import MerkleTree
from hashlist.note import COSIGNATURE_V1, Signer, parse_note
from server.tiles import TileWriter

LOG = Signer.generate("hub.example/log")
TS = Signer.generate("hub.example/timestamp", COSIGNATURE_V1)


def _log(n: int) -> ListLog:
    log = ListLog("takeitdown", "hub.example/lists/takeitdown", [LOG], [TS])
    for i in range(n):
        log.append([f"md5:{i:032x}"])
    return log


def _writer(root: Path, leaves: list[bytes], tree: MerkleTree) -> TileWriter:
    def read(list_id: str, start: int, end: int) -> Iterator[bytes]:
        return iter(leaves[start:end])

    return TileWriter(root, read, lambda _list, height, index: tree.node(height, index))


def _size(path: Path) -> int:
    return Checkpoint.parse(parse_note(path.read_bytes()).text).size


def test_the_checkpoint_never_moves_back(tmp_path: Path) -> None:
    log = _log(5)
    writer = _writer(tmp_path, log.leaves, log.tree)
    old = log.signed_checkpoint(1)
    log.append(["md5:" + "f" * 32])
    assert writer.publish("takeitdown", log.signed_checkpoint(2))
    assert not writer.publish("takeitdown", old)  # an announcement overtaken by a newer one
    assert _size(tmp_path / "takeitdown" / "checkpoint") == 6
    assert writer.written("takeitdown") == 6
    # Same size: a note cosigned earlier (a witness's reply overtaken by a
    # re-cosignature) does not replace a newer one.
    newer = log.signed_checkpoint(3000)
    assert writer.publish("takeitdown", newer)
    assert not writer.publish("takeitdown", log.signed_checkpoint(2500))
    assert (tmp_path / "takeitdown" / "checkpoint").read_bytes() == newer
    assert not list((tmp_path / "takeitdown").glob(".*"))  # no temporary file left


def test_a_failure_is_retried_from_what_is_durable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = _log(3)
    failing = True

    def read(list_id: str, start: int, end: int) -> Iterator[bytes]:
        if failing:
            raise StorageError("disk I/O error")
        return iter(log.leaves[start:end])

    writer = TileWriter(tmp_path, read, lambda _l, h, i: log.tree.node(h, i))
    with caplog.at_level(logging.ERROR):
        assert not writer.publish("takeitdown", log.signed_checkpoint(1))
    assert "tried again at the next checkpoint" in caplog.text
    assert writer.failures == 1
    assert not (tmp_path / "takeitdown" / "checkpoint").exists()
    failing = False
    assert writer.publish("takeitdown", log.signed_checkpoint(2))
    assert _size(tmp_path / "takeitdown" / "checkpoint") == 3


def test_a_leaf_too_large_for_a_bundle_stops_tiling_that_list(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A version 1 leaf (the format allowed up to 16 MiB) cannot be length-prefixed
    # by 16 bits: the list is not tiled, and the log says why.
    leaves = [b"x" * 70_000]
    tree = MerkleTree()
    tree.append(leaves[0])
    log = _log(0)
    log.tree = tree
    writer = _writer(tmp_path, leaves, tree)
    with caplog.at_level(logging.ERROR):
        assert not writer.publish("takeitdown", log.signed_checkpoint(1))
        assert not writer.publish("takeitdown", log.signed_checkpoint(2))
    assert "is 70,000 bytes, over the 65,535 an entry bundle holds" in caplog.text
    assert caplog.text.count("is no longer written") == 1
    assert not (tmp_path / "takeitdown" / "tile").exists()
    assert writer.written("takeitdown") == 0


def test_a_folder_ahead_of_the_hub_is_refused(tmp_path: Path) -> None:
    log = _log(4)
    _writer(tmp_path, log.leaves, log.tree).publish("takeitdown", log.signed_checkpoint(1))
    restored = _log(2)  # a hub restored from an older backup, with the same folder
    writer = _writer(tmp_path, restored.leaves, restored.tree)
    assert not writer.publish("takeitdown", restored.signed_checkpoint(2))
    assert _size(tmp_path / "takeitdown" / "checkpoint") == 4
