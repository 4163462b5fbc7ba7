"""Log format version 2: bounded leaves, and history written in version 1 still verifying.

Hubs before version 2 wrote v1 leaves of up to 16 MiB. Their logs keep
verifying at nodes, at auditors and in snapshots; the hub now writes v2 leaves
of at most 65,535 bytes, so one log may be v1 then v2, never v2 then v1.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import fields, replace
from pathlib import Path

import pytest

from hashlist.audit import check_replica, replay_history
from hashlist.checkpoint import Checkpoint, cosign, sign_checkpoint
from hashlist.delta import MAX_ENTRY_BYTES, decode_delta, make_delta
from hashlist.errors import ConfigError, DeltaConflictError, OversizedDeltaError
from hashlist.log import ListLog
from hashlist.lthash import LtHash16
from hashlist.merkle import MerkleTree
from hashlist.signals import SignalText
from hashlist.snapshot import SnapshotVerifier
from hashlist.verify import TrustedState, verify_update
from node.config import NodeConfig
from tests.conftest import Keys
from tests.legacy import append_v1
from tests.support import hub_config

NOW = 1_800_000_000
LIST = "takeitdown"


def _sha256(start: int, count: int) -> list[str]:
    return [f"sha256:{i:064x}" for i in range(start, start + count)]


def _log(keys: Keys) -> ListLog:
    return ListLog(LIST, f"hub.example/lists/{LIST}", [keys.log], [keys.timestamp])


def _signed(keys: Keys, leaves: Sequence[bytes]) -> bytes:
    """A checkpoint over ``leaves``, validly signed (whatever a hub chose to publish)."""
    tree = MerkleTree()
    for leaf in leaves:
        tree.append(leaf)
    checkpoint = Checkpoint(f"hub.example/lists/{LIST}", tree.size, tree.root())
    note = sign_checkpoint(checkpoint, [keys.log])
    return cosign(note, [keys.timestamp], NOW)


class Follower:
    """A node's verification loop, with its replica as a set."""

    def __init__(self, keys: Keys) -> None:
        self.trust = keys.trust()
        self.state = TrustedState.empty(LIST)
        self.replica: set[SignalText] = set()

    def listed(self, signals: Sequence[SignalText]) -> Set[SignalText]:
        return self.replica.intersection(signals)

    def follow(self, note: bytes, leaves: Sequence[bytes]) -> None:
        update = verify_update(
            self.state, note, leaves, trust=self.trust, now=NOW, listed=self.listed
        )
        for d in update.deltas:
            self.replica |= set(d.additions)
            self.replica -= set(d.removals)
        self.state = update.state


def _upgraded_log(keys: Keys) -> ListLog:
    """Two v1 leaves (one of about 150 KB, over the v2 bound), then v2 publications."""
    log = _log(keys)
    big = append_v1(log, _sha256(0, 2000))
    assert len(big) > MAX_ENTRY_BYTES
    append_v1(log, ["md5:" + "a" * 32], _sha256(0, 10))
    log.append(["md5:" + "b" * 32])
    log.append(_sha256(5000, 3000), ["md5:" + "a" * 32])
    return log


def test_a_log_of_v1_then_v2_leaves_verifies_in_one_step_or_in_several(keys: Keys) -> None:
    log = _upgraded_log(keys)
    assert [decode_delta(leaf).format_version for leaf in log.leaves[:4]] == [1, 1, 2, 2]
    in_one = Follower(keys)
    in_one.follow(log.signed_checkpoint(NOW), log.leaves)
    assert in_one.replica == log.members
    assert in_one.state.state_digest == log.lthash.digest()

    stepwise = Follower(keys)
    for size in (2, 3, log.size):  # the v1 history, then each v2 publication
        stepwise.follow(_signed(keys, log.leaves[:size]), log.leaves[stepwise.state.size : size])
    assert stepwise.state == replace(in_one.state, checkpoint_note=stepwise.state.checkpoint_note)


def test_a_v1_leaf_after_a_v2_leaf_is_refused(keys: Keys) -> None:
    log = _log(keys)
    log.append(["md5:" + "a" * 32])
    append_v1(log, ["md5:" + "b" * 32])
    with pytest.raises(DeltaConflictError, match="v1 delta after a v2 one"):
        Follower(keys).follow(log.signed_checkpoint(NOW), log.leaves)
    # The auditor replays the whole log in one step, so it always sees the order.
    with pytest.raises(DeltaConflictError, match="never goes back"):
        replay_history(LIST, log.signed_checkpoint(NOW), log.leaves, trust=keys.trust(), now=NOW)


def test_a_v2_leaf_of_65536_bytes_is_refused_before_it_is_parsed(keys: Keys) -> None:
    # A leaf that is right in every way but its size: 2,000 sha256 additions.
    signals = _sha256(0, 2000)
    delta = make_delta(LIST, 1, LtHash16.of(signals).digest(), signals, [])
    leaf = delta.encode()
    assert len(leaf) > MAX_ENTRY_BYTES
    with pytest.raises(OversizedDeltaError, match="over the 65535-byte limit"):
        Follower(keys).follow(_signed(keys, [leaf]), [leaf])
    # The same delta written as v1 by an earlier hub verifies.
    v1 = replace(delta, format_version=1).encode()
    node = Follower(keys)
    node.follow(_signed(keys, [v1]), [v1])
    assert node.state.size == 1


def test_the_auditor_replays_a_v1_then_v2_history(keys: Keys) -> None:
    log = _upgraded_log(keys)
    report = replay_history(LIST, log.signed_checkpoint(NOW), log.leaves, trust=keys.trust(),
                            now=NOW)  # fmt: skip
    assert (report.size, report.hashes) == (log.size, len(log.members))
    assert report.state_digest == log.lthash.digest()


@pytest.mark.parametrize("published_after_upgrade", [False, True])
def test_a_snapshot_verifies_whichever_version_its_last_leaf_is(
    keys: Keys, published_after_upgrade: bool
) -> None:
    log = _log(keys)
    append_v1(log, _sha256(0, 2000))
    if published_after_upgrade:
        log.append(["md5:" + "c" * 32])
    header, signals = log.snapshot(NOW)
    verifier = SnapshotVerifier(TrustedState.empty(LIST), header, trust=keys.trust(), now=NOW)
    verifier.feed(signals)
    state = verifier.finish()
    assert (state.size, state.state_digest) == (log.size, log.lthash.digest())
    # And an auditor checks the replica against that last leaf.
    proof = log.tree.inclusion_proof(log.size - 1)
    report = check_replica(state, signals, trust=keys.trust(), last_leaf=log.leaves[-1],
                           last_leaf_proof=proof)  # fmt: skip
    assert report.rows == len(signals)


def test_a_publication_of_3000_sha256_hashes_becomes_bounded_v2_leaves(keys: Keys) -> None:
    log = _log(keys)
    published = log.append(_sha256(0, 3000))  # about 228 KB of lines
    assert (published.first_version, published.version) == (1, log.size)
    assert (published.added, len(published.leaves)) == (3000, log.size)
    assert log.size >= 4
    assert all(len(leaf) <= MAX_ENTRY_BYTES for leaf in log.leaves)
    assert all(leaf.startswith(b"hashlist-delta/v2\n") for leaf in log.leaves)
    node = Follower(keys)
    node.follow(log.signed_checkpoint(NOW), log.leaves)
    assert node.replica == log.members
    assert len(node.replica) == 3000


def test_the_hub_is_configured_for_v2_leaves_and_a_node_accepts_them(tmp_path: Path) -> None:
    config, _ = hub_config(tmp_path / "hub", tmp_path)
    assert config.max_delta_bytes == MAX_ENTRY_BYTES
    with pytest.raises(ConfigError, match="at most 65535, got 65536: a leaf of log format"):
        hub_config(tmp_path / "hub", tmp_path, max_delta_bytes=65_536)

    def node(limit: int) -> NodeConfig:
        return NodeConfig(
            name="facebook", hub="127.0.0.1:1", trust_root=tmp_path / "trust.toml",
            lists=(LIST,), database=tmp_path / "node.db", tls_cert=tmp_path / "c.pem",
            tls_key=tmp_path / "c.key", ca=tmp_path / "ca.pem", max_delta_bytes=limit,
        )  # fmt: skip

    default = {f.name: f.default for f in fields(NodeConfig)}["max_delta_bytes"]
    assert default == 16 * 1024 * 1024  # so that v1 history still verifies
    assert node(MAX_ENTRY_BYTES).max_delta_bytes == MAX_ENTRY_BYTES
    with pytest.raises(ConfigError, match="would refuse leaves the hub writes"):
        node(MAX_ENTRY_BYTES - 1)
