"""The node reading its lists from the tiles (``node.tiles_log``), verified by the real
``Syncer`` and followed by the real ``Follower``: a signed log written as tiles on disk,
a hub that is away (or answers what a test allows)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from hashlist.cli.demo import wait_until
from hashlist.clock import FixedClock
from hashlist.errors import (
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
    UnavailableError,
)
from hashlist.log import ListLog
from hashlist.snapshot import SnapshotHeader
from hashlist.tiles import Tile
from node.config import NodeConfig
from node.follow import Follower
from node.metrics import NodeMetrics
from node.store import SqliteNodeStore
from node.sync import CheckpointRead, Subscription, Syncer
from node.tiles_log import TilesLog
from tests.conftest import Keys
from tests.tiles_support import write_tiles

LIST = "takeitdown"
NOW = 1_800_000_000


class DirTiles:
    """The tiles as a web server would serve a folder; ``failing`` makes every read fail."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.failing: ServiceError | None = None
        self.reads: list[str] = []

    def _read(self, path: str) -> bytes:
        self.reads.append(path)
        if self.failing is not None:
            raise self.failing
        try:
            return (self.root / LIST / path).read_bytes()
        except FileNotFoundError as e:
            raise NotFoundError(f"{path}: HTTP 404") from e

    def checkpoint(self, list_id: str) -> bytes:
        return self._read("checkpoint")

    def entries(self, list_id: str, tile: Tile) -> list[bytes]:
        from hashlist.tiles import decode_bundle

        return decode_bundle(self._read(tile.path), tile)


class Hub:
    """The hub, from the node: serving the log's leaves and checkpoint while ``up``."""

    def __init__(self, log: ListLog) -> None:
        self.log, self.up, self.calls = log, False, list[str]()
        self.served: bytes | None = None  # a checkpoint to send instead of the log's (an attack)

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if not self.up:
            raise UnavailableError(f"{what}: the hub is down")

    def checkpoint(self, list_id: str) -> bytes:
        self._call("checkpoint")
        return self.served or self.log.signed_checkpoint(NOW)

    def leaves(self, list_id: str, start: int, end: int) -> Iterator[tuple[int, Sequence[bytes]]]:
        self._call("leaves")
        yield start, self.log.leaves[start:end]

    def snapshot(
        self, list_id: str, from_size: int
    ) -> Iterator[SnapshotHeader | tuple[Sequence[str], Sequence[int], Sequence[bytes]]]:
        self._call("snapshot")
        raise UnavailableError("snapshots are not served here")

    def subscribe(self, list_ids: Sequence[str]) -> Subscription:
        self._call("subscribe")
        raise AssertionError("only a hub that is down here")

    def trust_root(self, version: int) -> bytes | None:
        self._call("trust_root")
        return None

    def report_progress(self, list_id: str, version: int) -> None:
        self._call("report_progress")


@dataclass
class Rig:
    log: ListLog
    tiles: DirTiles
    hub: Hub
    syncer: Syncer
    store: SqliteNodeStore
    metrics: NodeMetrics
    root: Path

    def publish(self, n: int, *, write: bool = True) -> bytes:
        """``n`` more versions; written as tiles unless not ``write``; their note."""
        for _ in range(n):
            self.log.append([f"md5:{self.log.size:032x}"])
        note = self.log.signed_checkpoint(NOW)
        if write:
            write_tiles(self.root, LIST, self.log.leaves, note)
        return note

    def size(self) -> int:
        return self.store.state(LIST).size


@pytest.fixture
def rig(tmp_path: Path, keys: Keys) -> Iterator[Rig]:
    trust = keys.trust()
    log = ListLog(LIST, trust.origin(LIST), [keys.log], [keys.timestamp])
    config = NodeConfig(
        name="facebook", hub="127.0.0.1:1", trust_root=tmp_path / "unused.toml",
        lists=(LIST,), database=tmp_path / "node.db", tls_cert=tmp_path / "c.pem",
        tls_key=tmp_path / "c.key", ca=tmp_path / "ca.pem", tiles_url="https://tiles.example",
        tiles_poll_seconds=0.05, reconnect_base_seconds=0.05, reconnect_cap_seconds=0.2,
        snapshot_threshold_leaves=5,
    )  # fmt: skip
    tiles, hub = DirTiles(tmp_path / "tiles"), Hub(log)
    metrics = NodeMetrics(CollectorRegistry())
    store = SqliteNodeStore(config.database)
    syncer = Syncer(config, trust, store, TilesLog(hub, tiles, metrics), FixedClock(NOW))
    syncer.metrics = metrics
    try:
        yield Rig(log, tiles, hub, syncer, store, metrics, tmp_path / "tiles")
    finally:
        store.close()


def _count(rig: Rig, name: str, **labels: str) -> float:
    return rig.metrics.registry.get_sample_value(name, labels) or 0.0


def test_a_new_node_replays_a_short_log_from_the_tiles_alone(rig: Rig) -> None:
    rig.publish(300)  # a full bundle and a partial one ...
    rig.syncer.config = replace(rig.syncer.config, snapshot_threshold_leaves=1000)
    assert rig.syncer.sync(LIST)
    assert rig.size() == 300
    assert rig.hub.calls == []  # ... and nothing from the hub
    assert rig.tiles.reads == ["checkpoint", "tile/entries/000", "tile/entries/001.p/44"]
    assert _count(rig, "hashlist_node_catch_ups_total", list=LIST, source="replay") == 1
    assert _count(rig, "hashlist_node_leaves_read_total", list=LIST, source="tiles") == 300
    rig.publish(2)
    assert rig.syncer.sync(LIST)  # an ordinary step, from the partial bundle
    assert rig.size() == 302
    assert rig.tiles.reads[-1] == "tile/entries/001.p/46"


def test_far_behind_with_the_snapshot_out_of_reach_replays_what_fits(rig: Rig) -> None:
    rig.publish(8)  # more than snapshot_threshold_leaves
    rig.syncer.config = replace(rig.syncer.config, max_step_bytes=1024)
    with pytest.raises(UnavailableError, match="snapshot: the hub is down"):
        rig.syncer.sync(LIST)  # too large to replay in memory: the snapshot it must be
    assert rig.size() == 0
    rig.syncer.config = replace(rig.syncer.config, max_step_bytes=64 * 1024)
    assert rig.syncer.sync(LIST)
    assert rig.size() == 8
    assert rig.hub.calls == ["snapshot", "snapshot"]


def test_what_the_tiles_do_not_serve_comes_from_the_hub(rig: Rig) -> None:
    rig.publish(3)
    rig.hub.up = True
    rig.tiles.failing = PermissionDeniedError("HTTP 403")  # a grant not in nginx's map yet
    assert rig.syncer.sync(LIST)
    assert rig.size() == 3
    assert rig.hub.calls == ["checkpoint", "leaves"]
    assert _count(rig, "hashlist_node_tiles_errors_total", list=LIST,
                  error="PermissionDeniedError") == 2  # fmt: skip
    assert _count(rig, "hashlist_node_leaves_read_total", list=LIST, source="hub") == 3
    rig.publish(1)
    rig.hub.up = False  # and now neither answers: the hub's error, naming both
    with pytest.raises(UnavailableError, match="the hub is down; and the tiles: "
                       "PermissionDeniedError: HTTP 403"):  # fmt: skip
        rig.syncer.sync(LIST)
    assert rig.size() == 3
    assert not rig.store.record(LIST).alarm  # out of reach is not an attack


def test_a_superseded_partial_bundle_is_read_from_the_wider_one(rig: Rig) -> None:
    rig.publish(1)
    assert rig.syncer.sync(LIST)
    pushed = rig.publish(2)  # the hub pushes size 3 ...
    rig.publish(2)  # ... but by the time the node asks, the tiles are at 5
    (rig.root / LIST / "tile/entries/000.p/3").unlink()  # and the hub deleted .p/3
    assert rig.syncer.sync(LIST, pushed)
    assert rig.size() == 3
    assert rig.tiles.reads[-2:] == ["checkpoint", "tile/entries/000.p/5"]


def test_a_lagging_mirror_is_not_a_rollback_but_the_hub_going_back_is(rig: Rig) -> None:
    old = rig.publish(2)
    pushed = rig.publish(2, write=False)  # the mirror has not caught up yet
    with pytest.raises(UnavailableError, match="HTTP 404"):  # its leaves are not there
        rig.syncer.sync(LIST, pushed)
    rig.hub.up = True
    assert rig.syncer.sync(LIST, pushed)  # (served by the hub instead)
    assert rig.size() == 4
    assert rig.syncer.sync(LIST) is False  # the tiles' size 2: nothing new, no alarm
    assert not rig.store.record(LIST).alarm
    assert rig.syncer.sync(LIST, old) is False  # the same note pushed by the hub: rollback
    assert rig.store.record(LIST).alarm.startswith("RollbackError")


def test_a_tampered_bundle_is_refused_and_the_last_good_state_kept(rig: Rig) -> None:
    rig.publish(2)
    assert rig.syncer.sync(LIST)
    good = rig.store.state(LIST)
    rig.publish(1)
    bundle = rig.root / LIST / "tile/entries/000.p/3"
    data = bundle.read_bytes()
    bundle.write_bytes(data[:-3] + (b"0" if data[-3:-2] != b"0" else b"1") + data[-2:])
    assert rig.syncer.sync(LIST) is False
    record = rig.store.record(LIST)
    assert record.alarm.split(":")[0] in {"BadProofError", "DigestMismatchError",
                                          "MalformedDeltaError", "DeltaConflictError"}  # fmt: skip
    assert record.state == good
    assert rig.hub.calls == []  # a bad tile is never papered over with the hub's copy


def test_while_the_hub_is_away_the_follower_polls_the_tiles(rig: Rig) -> None:
    rig.publish(2)
    follower = Follower(rig.syncer)
    thread = threading.Thread(target=follower.run)
    thread.start()
    try:
        wait_until(lambda: rig.size() == 2, 10, "the first poll")
        rig.publish(3)
        wait_until(lambda: rig.size() == 5, 10, "a later poll")
        wait_until(lambda: "(the tiles answer)" in rig.store.record(LIST).contact, 10,
                   "the contact to say so")  # fmt: skip
        record = rig.store.record(LIST)
        assert record.contact.startswith("unreachable: ")  # the hub's contact, truthfully
        assert "report_progress" not in rig.hub.calls  # nothing is sent to a hub away
        rig.tiles.failing = UnavailableError("HTTP 503")
        wait_until(lambda: "the tiles: UnavailableError" in rig.store.record(LIST).contact,
                   10, "the tiles' failure in the contact")  # fmt: skip
        assert rig.size() == 5
    finally:
        follower.shutdown()
        thread.join(10)
    assert not thread.is_alive()


def test_the_hub_standing_in_for_the_tiles_going_back_is_a_rollback(rig: Rig) -> None:
    old = rig.publish(2)
    rig.publish(2)
    assert rig.syncer.sync(LIST)
    rig.tiles.failing = UnavailableError("HTTP 503")  # the tiles out of reach ...
    rig.hub.up, rig.hub.served = True, old  # ... and the hub serving an older checkpoint
    assert rig.syncer.sync(LIST) is False
    assert rig.store.record(LIST).alarm.startswith("RollbackError")
    assert rig.size() == 4
    read = rig.syncer.last_read[LIST]
    assert (read.source, read.tiles_problem) == ("hub", "UnavailableError: HTTP 503")
    assert read.outcome.startswith("RollbackError")


def test_the_tiles_at_the_same_size_with_another_root_is_equivocation(rig: Rig, keys: Keys) -> None:
    rig.publish(2)
    assert rig.syncer.sync(LIST)
    fork = ListLog(LIST, rig.log.origin, [keys.log], [keys.timestamp])
    fork.append(["md5:" + "f" * 32])
    fork.append(["md5:" + "e" * 32])
    write_tiles(rig.root, LIST, fork.leaves, fork.signed_checkpoint(NOW))
    assert rig.syncer.sync(LIST) is False
    assert rig.store.record(LIST).halted  # the evidence kept, the list stopped
    assert rig.size() == 2


def test_the_poll_says_the_tiles_answer_only_when_they_served_what_verified(rig: Rig) -> None:
    follower = Follower(rig.syncer)
    said = follower._tiles
    rig.publish(2)
    follower._poll([LIST])
    assert said[LIST] == "the tiles answer"
    assert rig.syncer.last_read[LIST] == CheckpointRead("tiles", "verified")
    rig.tiles.failing = PermissionDeniedError("HTTP 403")  # (503 would skip them a while)
    rig.hub.up = True
    follower._poll([LIST])  # the hub answered in their place
    assert said[LIST] == "the tiles: PermissionDeniedError: HTTP 403 (the hub answered)"
    rig.tiles.failing = None
    rig.publish(2, write=False)
    rig.syncer.sync(LIST, rig.log.signed_checkpoint(NOW))  # pushed by the hub
    assert rig.size() == 4
    follower._poll([LIST])  # the tiles still at 2
    assert said[LIST] == "the tiles lag behind the verified version"
    checkpoint = rig.root / LIST / "checkpoint"
    checkpoint.write_bytes(checkpoint.read_bytes().replace(b"\n\n", b"\n\nx", 1))
    follower._poll([LIST])
    assert said[LIST].startswith("the tiles: not verified: ")


def test_tiles_out_of_reach_are_skipped_for_a_growing_while(rig: Rig) -> None:
    now = [1000.0]
    rig.syncer.hub = TilesLog(rig.hub, rig.tiles, rig.metrics, monotonic=lambda: now[0])
    rig.hub.up = True
    rig.tiles.failing = UnavailableError("timed out")  # a blackholed tiles host
    rig.publish(1)
    assert rig.syncer.sync(LIST)  # from the hub: the leaves without asking the tiles
    assert rig.tiles.reads == ["checkpoint"]
    assert _count(rig, "hashlist_node_tiles_skip_seconds") == 30
    rig.publish(1)
    now[0] += 29
    assert rig.syncer.sync(LIST)
    assert rig.tiles.reads == ["checkpoint"]  # skipped
    assert rig.syncer.last_read[LIST].tiles_problem.startswith("TilesSkippedError: not asked")
    assert _count(rig, "hashlist_node_tiles_errors_total", list=LIST,
                  error="UnavailableError") == 1  # fmt: skip
    now[0] += 2
    assert rig.syncer.sync(LIST) is True  # asked again, failing again: twice as long
    assert len(rig.tiles.reads) == 2
    assert _count(rig, "hashlist_node_tiles_skip_seconds") == 60
    now[0] += 61
    rig.tiles.failing = None
    rig.publish(1)
    assert rig.syncer.sync(LIST)
    assert rig.syncer.last_read[LIST] == CheckpointRead("tiles", "verified")
    assert _count(rig, "hashlist_node_tiles_skip_seconds") == 0
    assert rig.size() == 3
