"""The hub writes each list's log as C2SP tlog-tiles files (server.tiles)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from hashlist.checkpoint import Checkpoint
from hashlist.merkle import MerkleTree, hash_leaf
from hashlist.note import parse_note
from hashlist.tiles import Tile, bundles_for, decode_bundle, decode_tile, tiles_between
from hashlist.trustroot import TrustRoot
from tests.support import HUB, client, hub_config, hub_running
from tests.tiles_reader import read_tiles

MD5 = [f"md5:{i:032x}" for i in range(400)]


def _served(folder: Path, pki: Path, port: int) -> tuple[bytes, list[bytes]]:
    """The hub's own answer over gRPC: its note and every leaf."""
    with client(port, pki, "facebook") as fb:
        note = fb.checkpoint("takeitdown")
        size = Checkpoint.parse(parse_note(note).text).size
        leaves = [leaf for _, batch in fb.leaves("takeitdown", 0, size) for leaf in batch]
    return note, leaves


def _read_tiles(folder: Path) -> tuple[Checkpoint, list[bytes]]:
    """Entries and the root the files prove, checked against each other."""
    note = (folder / "checkpoint").read_bytes()
    checkpoint = Checkpoint.parse(parse_note(note).text)
    size = checkpoint.size
    entries = [
        entry
        for tile in bundles_for(0, size, size)
        for entry in decode_bundle((folder / tile.path).read_bytes(), tile)
    ]
    tree = MerkleTree(hash_leaf(e) for e in entries)
    for tile in tiles_between(0, size):
        if tile.level >= 0:
            hashes = decode_tile((folder / tile.path).read_bytes(), tile)
            first = tile.index * 256
            assert hashes == [tree.node(8 * tile.level, first + i) for i in range(tile.width)]
    assert tree.root() == checkpoint.root
    return checkpoint, entries


def _independently_read(folder: Path, trust: TrustRoot) -> list[bytes]:
    """What tests/tiles_reader.py, written from the specs alone, verifies in the files."""
    key = str(trust.log_keys[0])
    log = read_tiles(
        lambda path: (folder / path).read_bytes(), origin=f"{HUB}/lists/takeitdown", log_key=key
    )
    script = Path(__file__).parents[1] / "tiles_reader.py"
    done = subprocess.run(
        [sys.executable, script, folder, "--origin", f"{HUB}/lists/takeitdown", "--key", key],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"ok: {log.size} entries")
    return log.entries


def test_every_publication_is_written_as_tiles_before_its_checkpoint(
    tmp_path: Path, pki: Path
) -> None:
    tiles = tmp_path / "tiles"
    config, trust = hub_config(tmp_path, pki, tiles_dir=tiles)
    with hub_running(config) as running:
        with client(running.port, pki, "operator") as op:
            op.create_list("takeitdown")
            op.grant("takeitdown", "facebook", new_partner=True)
            for signal in MD5[:259]:
                op.publish("takeitdown", [signal])
        note, leaves = _served(tmp_path, pki, running.port)
    folder = tiles / "takeitdown"
    assert (folder / "checkpoint").read_bytes() == note
    checkpoint, entries = _read_tiles(folder)
    assert checkpoint.size == 259
    assert entries == leaves
    assert _independently_read(folder, trust) == leaves
    # A full bundle replaced its partials; every later checkpoint's partials stay
    # until their full tile exists (C2SP tlog-tiles).
    assert (folder / "tile/entries/000").exists()
    assert (folder / "tile/0/000").exists()
    assert not (folder / "tile/entries/000.p").exists()
    assert not (folder / "tile/0/000.p").exists()
    assert sorted(p.name for p in (folder / "tile/entries/001.p").iterdir()) == ["1", "2", "3"]
    assert sorted(p.name for p in (folder / "tile/1/000.p").iterdir()) == ["1"]


def test_a_restarted_hub_resumes_without_rewriting_a_file(tmp_path: Path, pki: Path) -> None:
    tiles = tmp_path / "tiles"
    config, trust = hub_config(tmp_path, pki, tiles_dir=tiles)
    with hub_running(config) as running, client(running.port, pki, "operator") as op:
        op.create_list("takeitdown")
        op.grant("takeitdown", "facebook", new_partner=True)
        op.publish("takeitdown", MD5[:300])
        op.publish("takeitdown", MD5[300:301])
    folder = tiles / "takeitdown"
    before = {p: (p.stat().st_ino, p.read_bytes()) for p in folder.rglob("*") if p.is_file()}
    (folder / "checkpoint").unlink()  # as if the hub stopped between tiles and checkpoint
    with hub_running(config) as running:
        with client(running.port, pki, "operator") as op:
            op.publish("takeitdown", MD5[301:302])
        note, leaves = _served(tmp_path, pki, running.port)
    assert (folder / "checkpoint").read_bytes() == note
    assert _read_tiles(folder)[1] == leaves
    assert _independently_read(folder, trust) == leaves
    for path, (inode, data) in before.items():
        if path.exists() and path.name != "checkpoint":
            assert (path.stat().st_ino, path.read_bytes()) == (inode, data), path


def test_a_folder_holding_another_logs_files_is_refused_not_overwritten(
    tmp_path: Path, pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tiles = tmp_path / "tiles"
    foreign = tiles / "takeitdown" / Tile(-1, 0, 1).path
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"\x00\x05other")
    config, _ = hub_config(tmp_path, pki, tiles_dir=tiles)
    with caplog.at_level(logging.ERROR), hub_running(config) as running:
        with client(running.port, pki, "operator") as op:
            op.create_list("takeitdown")
            op.grant("takeitdown", "facebook", new_partner=True)
            assert op.publish("takeitdown", MD5[:1]).version == 1  # the hub serves on
            op.publish("takeitdown", MD5[1:2])
        note, _ = _served(tmp_path, pki, running.port)
        registry = running.hub.metrics.registry
        labels = {"list": "takeitdown"}
        assert registry.get_sample_value("hashlist_hub_list_version", labels) == 2
        assert registry.get_sample_value("hashlist_hub_tiles_version", labels) == 0
    assert foreign.read_bytes() == b"\x00\x05other"
    assert Checkpoint.parse(parse_note(note).text).size == 2
    checkpoint = tiles / "takeitdown" / "checkpoint"
    assert Checkpoint.parse(parse_note(checkpoint.read_bytes()).text).size == 0
    assert "another log's files" in caplog.text
