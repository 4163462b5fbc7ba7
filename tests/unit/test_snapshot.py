"""Snapshot bootstrap: a whole set verified against the signed history."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hashlist.errors import BadProofError, DigestMismatchError, MalformedDeltaError, RollbackError
from hashlist.log import ListLog
from hashlist.signals import SignalText
from hashlist.snapshot import SnapshotHeader, SnapshotVerifier
from hashlist.verify import TrustedState, verify_update
from tests.conftest import Keys

NOW = 1_800_000_000
LIST = "takeitdown"


def _log(keys: Keys, n: int = 50) -> ListLog:
    log = ListLog(LIST, f"hub.example/lists/{LIST}", [keys.log], [keys.timestamp])
    log.append([f"md5:{i:032x}" for i in range(n)])
    log.append([f"pdq:{i:064x}" for i in range(n)], removals=[f"md5:{i:032x}" for i in range(5)])
    log.append([f"sha256:{i:064x}" for i in range(3)])
    return log


def _run(
    state: TrustedState, keys: Keys, header: object, signals: list[SignalText], batch: int = 7
) -> TrustedState:
    verifier = SnapshotVerifier(state, header, trust=keys.trust(), now=NOW)  # type: ignore[arg-type]
    for i in range(0, len(signals), batch):
        verifier.feed(signals[i : i + batch])
    return verifier.finish()


def test_bootstrap_from_empty_equals_replaying_every_delta(keys: Keys) -> None:
    log = _log(keys)
    header, signals = log.snapshot(NOW)
    state = _run(TrustedState.empty(LIST), keys, header, signals)
    replayed = verify_update(
        TrustedState.empty(LIST),
        log.signed_checkpoint(NOW),
        log.leaves,
        trust=keys.trust(),
        now=NOW,
        listed=lambda s: frozenset(),
    ).state
    assert state.size == replayed.size == 3
    assert state.state_digest == replayed.state_digest
    assert state.compact_range == replayed.compact_range
    assert state.lthash == replayed.lthash
    # And it can follow on from there, leaf by leaf.
    log.append(["md5:" + "f" * 32])
    members = set(signals)
    verify_update(
        state,
        log.signed_checkpoint(NOW),
        log.leaves[3:],
        trust=keys.trust(),
        now=NOW,
        listed=members.intersection,
    )


def test_catching_up_from_a_verified_size_needs_consistency(keys: Keys) -> None:
    log = _log(keys)
    first = _verified_first_leaf(log, keys)
    header, signals = log.snapshot(NOW, from_size=1)
    assert _run(first, keys, header, signals).size == 3
    with pytest.raises(BadProofError):
        _run(first, keys, replace(header, consistency_proof=()), signals)


def test_a_fork_cannot_hide_in_a_snapshot(keys: Keys) -> None:
    log, fork = _log(keys), ListLog(LIST, f"hub.example/lists/{LIST}", [keys.log], [keys.timestamp])
    fork.append(["md5:" + "e" * 32])
    fork.append(["md5:" + "d" * 32])
    fork.append(["md5:" + "c" * 32])
    fork.append(["md5:" + "b" * 32])
    trusted = _verified_first_leaf(log, keys)
    header, signals = fork.snapshot(NOW, from_size=1)
    with pytest.raises(BadProofError):
        _run(trusted, keys, header, signals)


def test_tampered_sets_are_refused(keys: Keys) -> None:
    log = _log(keys)
    header, signals = log.snapshot(NOW)
    extra = SignalText("md5:" + "9" * 32)
    cases: dict[str, tuple[SnapshotHeader, list[SignalText], type[Exception]]] = {
        "missing one": (replace(header, count=header.count - 1), signals[1:], DigestMismatchError),
        "one swapped": (header, [extra, *signals[1:]], DigestMismatchError),
        "one duplicated": (header, [signals[0], *signals[:-1]], DigestMismatchError),
        "one too many": (header, [*signals, extra], MalformedDeltaError),
        "count short": (header, signals[1:], MalformedDeltaError),
        "not canonical": (
            header,
            [SignalText(signals[0].upper()), *signals[1:]],
            MalformedDeltaError,
        ),
    }
    for name, (h, sigs, error) in cases.items():
        try:
            _run(TrustedState.empty(LIST), keys, h, sigs)
        except error:
            continue
        pytest.fail(f"{name}: accepted")


def test_header_tampering_is_refused(keys: Keys) -> None:
    log = _log(keys)
    header, signals = log.snapshot(NOW)
    bad_range = (bytes(32), *header.compact_range[1:])
    with pytest.raises(BadProofError, match="compact range"):
        _run(TrustedState.empty(LIST), keys, replace(header, compact_range=bad_range), signals)
    with pytest.raises(BadProofError):
        _run(TrustedState.empty(LIST), keys, replace(header, last_leaf=log.leaves[0]), signals)


def test_snapshot_cannot_roll_back(keys: Keys) -> None:
    log = _log(keys)
    header, signals = log.snapshot(NOW)
    state = _run(TrustedState.empty(LIST), keys, header, signals)
    log.append(["md5:" + "f" * 32])
    newer = verify_update(
        state,
        log.signed_checkpoint(NOW),
        log.leaves[3:],
        trust=keys.trust(),
        now=NOW,
        listed=lambda s: frozenset(),
    ).state
    with pytest.raises(RollbackError):
        _run(newer, keys, header, signals)


def _verified_first_leaf(log: ListLog, keys: Keys) -> TrustedState:
    """A node's state after verifying only version 1 of ``log``."""
    return verify_update(
        TrustedState.empty(LIST),
        _checkpoint_at(log, keys, 1),
        log.leaves[:1],
        trust=keys.trust(),
        now=NOW,
        listed=lambda s: frozenset(),
    ).state


def _checkpoint_at(log: ListLog, keys: Keys, size: int) -> bytes:
    old = ListLog(LIST, log.origin, [keys.log], [keys.timestamp])
    for leaf in log.leaves[:size]:
        old.tree.append(leaf)
    return old.signed_checkpoint(NOW)
