"""The node against a malicious hub: one test per attack.

Each test first lets the node follow an honest history to version 2, then
switches the simulator to one attack and asserts that the node refuses it,
keeps its last verified state (rows and digest untouched), and names the
attack in its alarm.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hashlist.checkpoint import verify_checkpoint
from hashlist.client import ClientTLS, HubClient
from hashlist.clock import FixedClock
from hashlist.delta import make_delta
from hashlist.lthash import LtHash16
from hashlist.retry import Backoff
from hashlist.trustroot import TrustRoot
from node.config import NodeConfig
from node.store import SqliteNodeStore
from node.sync import Syncer
from tests.conftest import Keys
from tests.simulator import MaliciousHub, serving

LIST = "takeitdown"
NOW = 1_800_000_000
MAX_AGE = 600


@dataclass
class Rig:
    sim: MaliciousHub
    syncer: Syncer
    store: SqliteNodeStore
    trust: TrustRoot
    clock: FixedClock

    def verified(self) -> tuple[int, bytes]:
        state = self.store.state(LIST)
        return state.size, state.state_digest

    def assert_refused(self, attack_error: str) -> None:
        before = self.verified()
        assert self.syncer.sync(LIST) is False
        record = self.store.record(LIST)
        assert record.alarm.startswith(attack_error), record.alarm
        assert self.verified() == before
        assert LtHash16.of(self.store.signals(LIST)).digest() == before[1]


@pytest.fixture
def rig(tmp_path: Path, pki: Path, keys: Keys) -> Iterator[Rig]:
    clock = FixedClock(NOW)
    sim = MaliciousHub(keys, LIST, clock, MAX_AGE)
    trust = keys.trust(max_age=MAX_AGE)
    with serving(sim, pki) as port:
        config = NodeConfig(
            name="facebook", hub=f"127.0.0.1:{port}", trust_root=tmp_path / "unused.toml",
            lists=(LIST,), database=tmp_path / "node.db", tls_cert=pki / "facebook.pem",
            tls_key=pki / "facebook.key", ca=pki / "ca.pem",
            max_delta_bytes=64 * 1024, max_message_bytes=1024 * 1024,
        )  # fmt: skip
        client = HubClient(
            config.hub, ClientTLS(config.ca, config.tls_cert, config.tls_key), timeout=10,
            backoff=Backoff(0.01, 0.05, 2), max_message_bytes=config.max_message_bytes,
        )  # fmt: skip
        store = SqliteNodeStore(config.database)
        r = Rig(sim, Syncer(config, trust, store, client, clock), store, trust, clock)
        sim.publish([f"md5:{i:032x}" for i in range(20)])
        assert r.syncer.sync(LIST)  # bootstraps from a snapshot
        sim.publish([f"pdq:{i:064x}" for i in range(5)], [f"md5:{i:032x}" for i in range(3)])
        assert r.syncer.sync(LIST)  # follows the leaf
        assert r.verified()[0] == 2
        yield r
        client.close()
        store.close()


def test_rollback(rig: Rig) -> None:
    rig.sim.attack = "rollback"
    rig.assert_refused("RollbackError")


def test_fork_is_equivocation_kept_as_evidence_and_halts_the_list(rig: Rig) -> None:
    rig.sim.attack = "fork"
    rig.assert_refused("EquivocationError")
    assert rig.store.record(LIST).halted
    [evidence] = rig.store.evidence(LIST)
    assert evidence.kind == "EquivocationError"
    origin = rig.trust.origin(LIST)
    one = verify_checkpoint(evidence.trusted_note, rig.trust, origin).checkpoint
    two = verify_checkpoint(evidence.conflicting_note, rig.trust, origin).checkpoint
    assert one.size == two.size
    assert one.root != two.root
    # Halted: even an honest checkpoint is not applied until an operator acts.
    rig.sim.attack = None
    rig.sim.publish(["md5:" + "c" * 32])
    assert rig.syncer.sync(LIST) is False
    assert rig.verified()[0] == 2


def test_flipped_bit_in_a_leaf(rig: Rig) -> None:
    rig.sim.publish(["md5:" + "a" * 32])
    rig.sim.attack = "flip"
    before = rig.verified()
    assert rig.syncer.sync(LIST) is False
    alarm = rig.store.record(LIST).alarm
    assert alarm.split(":")[0] in ("MalformedDeltaError", "DigestMismatchError", "BadProofError")
    assert rig.verified() == before


def test_wrong_state_digest(rig: Rig) -> None:
    rig.sim.attack = "wrong_digest"
    rig.assert_refused("DigestMismatchError")


def test_stale_checkpoint(rig: Rig) -> None:
    rig.sim.publish(["md5:" + "b" * 32])
    rig.sim.attack = "stale"
    rig.assert_refused("StaleCheckpointError")


def test_frozen_hub_goes_stale_but_the_replica_stays_servable(rig: Rig) -> None:
    rig.sim.freeze()
    rig.sim.attack = "freeze"
    rig.clock.value += MAX_AGE + 1
    rig.assert_refused("StaleCheckpointError")
    assert rig.store.version_of(LIST, "pdq:" + "0" * 64)  # the last good replica still answers


def test_oversized_leaf(rig: Rig) -> None:
    lines = [f"sha256:{i:064x}" for i in range(2000)]  # ~150 KB, over the 65,535 of a v2 leaf
    rig.sim.big_leaf = make_delta(LIST, 3, bytes(32), lines, []).encode()
    rig.sim.attack = "oversized_leaf"
    rig.assert_refused("OversizedDeltaError")
    assert "over the 65535-byte limit" in rig.store.record(LIST).alarm
    # A v1 leaf may be larger, but not larger than the node's own limit (64 KiB here).
    rig.sim.big_leaf = rig.sim.big_leaf.replace(b"hashlist-delta/v2", b"hashlist-delta/v1", 1)
    rig.assert_refused("OversizedDeltaError")
    assert "over the 65536-byte limit" in rig.store.record(LIST).alarm


def test_oversized_message(rig: Rig) -> None:
    rig.sim.publish(["md5:" + "9" * 32])
    rig.sim.attack = "oversized_message"
    rig.assert_refused("OversizedResponseError")


def test_tampered_snapshot(tmp_path: Path, rig: Rig) -> None:
    # A fresh node bootstrapping from a snapshot with one hash swapped.
    rig.sim.attack = "tampered_snapshot"
    fresh = SqliteNodeStore(tmp_path / "fresh.db")
    syncer = Syncer(rig.syncer.config, rig.trust, fresh, rig.syncer.hub, rig.clock)
    assert syncer.sync(LIST) is False
    assert fresh.record(LIST).alarm.startswith("DigestMismatchError")
    assert fresh.state(LIST).size == 0
    assert fresh.count(LIST) == 0
    fresh.close()


def test_recovers_when_the_hub_behaves_again(rig: Rig) -> None:
    rig.sim.attack = "rollback"
    assert rig.syncer.sync(LIST) is False
    rig.sim.attack = None
    rig.sim.publish(["md5:" + "7" * 32])
    assert rig.syncer.sync(LIST)
    assert rig.verified()[0] == 3
    assert rig.store.record(LIST).alarm == ""
