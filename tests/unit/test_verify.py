"""The pure verification step: one test per way a hub can lie, and the happy paths."""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import replace

import pytest

from hashlist.checkpoint import Checkpoint, cosign, sign_checkpoint, verify_checkpoint
from hashlist.delta import make_delta
from hashlist.errors import (
    BadProofError,
    BadSignatureError,
    DeltaConflictError,
    DigestMismatchError,
    EquivocationError,
    FutureTimestampError,
    MalformedDeltaError,
    OriginMismatchError,
    OversizedDeltaError,
    QuorumError,
    RollbackError,
    StaleCheckpointError,
)
from hashlist.log import ListLog
from hashlist.lthash import LtHash16
from hashlist.merkle import MerkleTree
from hashlist.note import Note, parse_note
from hashlist.signals import SignalText
from hashlist.verify import (
    TrustedState,
    VerifiedUpdate,
    check_fresh,
    ignored_witnesses,
    verify_update,
)
from tests.conftest import Keys

LIST = "takeitdown"
NOW = 1_800_000_000
A, B, C = (SignalText(f"md5:{c * 32}") for c in "abc")
P = SignalText("pdq:" + "d" * 64)


class Follower:
    """A node's verification loop with its replica as a Python set."""

    def __init__(self, keys: Keys, **trust: int) -> None:
        self.trust = keys.trust(**trust)
        self.state = TrustedState.empty(LIST)
        self.replica: set[SignalText] = set()

    def listed(self, signals: Sequence[SignalText]) -> Set[SignalText]:
        return self.replica.intersection(signals)

    def verify(self, note: bytes, leaves: Sequence[bytes], now: int = NOW) -> VerifiedUpdate:
        return verify_update(
            self.state, note, leaves, trust=self.trust, now=now, listed=self.listed
        )

    def follow(self, note: bytes, leaves: Sequence[bytes], now: int = NOW) -> VerifiedUpdate:
        update = self.verify(note, leaves, now)
        for d in update.deltas:
            self.replica |= set(d.additions)
            self.replica -= set(d.removals)
        self.state = update.state
        return update


def _log(keys: Keys, *, witnesses: int = 0) -> ListLog:
    return ListLog(
        LIST, f"hub.example/lists/{LIST}", [keys.log], [keys.timestamp, *keys.witnesses[:witnesses]]
    )


def _signed(
    keys: Keys, leaves: list[bytes], now: int = NOW, origin: str = f"hub.example/lists/{LIST}"
) -> bytes:
    """A checkpoint over arbitrary leaves, validly signed: what a malicious hub can make."""
    tree = MerkleTree()
    for leaf in leaves:
        tree.append(leaf)
    note = sign_checkpoint(Checkpoint(origin, tree.size, tree.root()), [keys.log])
    return cosign(note, [keys.timestamp], now)


@pytest.fixture
def log(keys: Keys) -> ListLog:
    return _log(keys)


def test_follows_several_steps_and_matches_the_publisher(keys: Keys, log: ListLog) -> None:
    node = Follower(keys)
    log.append([A, B, P])
    node.follow(log.signed_checkpoint(NOW), log.leaves)
    assert node.state.size == 1
    assert node.replica == {A, B, P}

    # Two leaves in one step: the second removes what the first added.
    log.append([C], removals=[A])
    log.append([], removals=[C])
    update = node.follow(log.signed_checkpoint(NOW + 10), log.leaves[1:], now=NOW + 10)
    assert [d.version for d in update.deltas] == [2, 3]
    assert node.replica == {B, P} == log.members
    assert node.state.state_digest == LtHash16.of(node.replica).digest() == log.lthash.digest()
    assert node.state.root == log.tree.root()
    assert node.state.compact_range == log.tree.compact_range()
    assert node.state.cosigned_at == NOW + 10


def test_same_checkpoint_recosigned_refreshes_the_time_only(keys: Keys, log: ListLog) -> None:
    node = Follower(keys)
    log.append([A])
    node.follow(log.signed_checkpoint(NOW), log.leaves)
    update = node.follow(log.signed_checkpoint(NOW + 3000), [], now=NOW + 3000)
    assert update.deltas == ()
    assert node.state.size == 1
    assert node.state.cosigned_at == NOW + 3000


def test_rollback(keys: Keys, log: ListLog) -> None:
    node = Follower(keys)
    log.append([A])
    old = log.signed_checkpoint(NOW)
    log.append([B])
    node.follow(log.signed_checkpoint(NOW), log.leaves)
    with pytest.raises(RollbackError, match="size 1 is older than the verified size 2"):
        node.verify(old, [])


def test_fork_is_equivocation_with_both_notes_as_evidence(keys: Keys, log: ListLog) -> None:
    node = Follower(keys)
    log.append([A])
    node.follow(log.signed_checkpoint(NOW), log.leaves)
    fork = _log(keys)
    fork.append([B])
    forked_note = fork.signed_checkpoint(NOW + 1)
    with pytest.raises(EquivocationError) as info:
        node.verify(forked_note, [], now=NOW + 1)
    evidence = info.value
    # Anyone with the trust root can check the evidence: two valid notes, one size, two roots.
    one = verify_checkpoint(evidence.trusted_note, node.trust, node.trust.origin(LIST))
    two = verify_checkpoint(evidence.conflicting_note, node.trust, node.trust.origin(LIST))
    assert one.checkpoint.size == two.checkpoint.size
    assert one.checkpoint.root != two.checkpoint.root


def test_fork_at_a_larger_size_fails_the_root_check(keys: Keys, log: ListLog) -> None:
    node = Follower(keys)
    log.append([A])
    node.follow(log.signed_checkpoint(NOW), log.leaves)
    fork = _log(keys)
    fork.append([B])
    fork.append([C])
    # The fork's leaf 2 applies cleanly to the node's set, but the tree differs at leaf 1.
    leaf2 = make_delta(LIST, 2, LtHash16.of([A, C]).digest(), [C], []).encode()
    with pytest.raises(BadProofError, match="do not hash to the signed root"):
        node.verify(_signed(keys, [fork.leaves[0], leaf2]), [leaf2])


def test_stale_checkpoint(keys: Keys, log: ListLog) -> None:
    node = Follower(keys, max_age=600)
    log.append([A])
    with pytest.raises(StaleCheckpointError, match="601 s old, over the 600 s maximum") as info:
        node.verify(log.signed_checkpoint(NOW), log.leaves, now=NOW + 601)
    assert info.value.age_seconds == 601
    node.verify(log.signed_checkpoint(NOW), log.leaves, now=NOW + 600)


def test_frozen_hub_is_noticed_on_the_stored_state(keys: Keys, log: ListLog) -> None:
    node = Follower(keys, max_age=600)
    log.append([A])
    node.follow(log.signed_checkpoint(NOW), log.leaves)
    check_fresh(node.state, node.trust, NOW + 600)
    with pytest.raises(StaleCheckpointError):
        check_fresh(node.state, node.trust, NOW + 601)
    # Replaying the same old cosigned note does not make the node fresh again.
    with pytest.raises(StaleCheckpointError):
        node.verify(log.signed_checkpoint(NOW), [], now=NOW + 601)


def test_checkpoint_without_cosignature_has_unknown_age(keys: Keys, log: ListLog) -> None:
    node = Follower(keys)
    log.append([A])
    bare = sign_checkpoint(log.checkpoint(), [keys.log])
    with pytest.raises(StaleCheckpointError, match="no valid cosignature"):
        node.verify(bare, log.leaves)


def test_future_cosignature(keys: Keys, log: ListLog) -> None:
    node = Follower(keys, skew=300)
    log.append([A])
    with pytest.raises(FutureTimestampError, match="301 s in the future"):
        node.verify(log.signed_checkpoint(NOW + 301), log.leaves)


def test_bad_signature(keys: Keys, log: ListLog) -> None:
    node = Follower(keys)
    log.append([A])
    note = parse_note(log.signed_checkpoint(NOW))
    forged = [
        replace(s, signature=bytes([s.signature[0] ^ 0x04]) + s.signature[1:])
        if s.name == keys.log.name else s
        for s in note.signatures
    ]  # fmt: skip
    with pytest.raises(BadSignatureError, match="does not verify"):
        node.verify(Note(note.text, tuple(forged)).encode(), log.leaves)


def test_witness_quorum(keys: Keys) -> None:
    node = Follower(keys, quorum=1)
    log = _log(keys)
    log.append([A])
    with pytest.raises(QuorumError):
        node.verify(log.signed_checkpoint(NOW), log.leaves)
    witnessed = _log(keys, witnesses=1)
    witnessed.append([A])
    node.follow(witnessed.signed_checkpoint(NOW), witnessed.leaves)


def test_checkpoint_of_another_list(keys: Keys) -> None:
    node = Follower(keys)
    other = ListLog("stopncii", "hub.example/lists/stopncii", [keys.log], [keys.timestamp])
    other.append([A])
    with pytest.raises(OriginMismatchError):
        node.verify(other.signed_checkpoint(NOW), other.leaves)


def test_flipped_bit_in_a_leaf(keys: Keys, log: ListLog) -> None:
    node = Follower(keys)
    log.append([A, B])
    note = log.signed_checkpoint(NOW)
    leaf = log.leaves[0]
    for position in range(len(leaf)):
        flipped = bytearray(leaf)
        flipped[position] ^= 0x01
        with pytest.raises((MalformedDeltaError, DigestMismatchError, BadProofError)):
            node.verify(note, [bytes(flipped)])
    assert node.state == TrustedState.empty(LIST)


def test_wrong_state_digest(keys: Keys) -> None:
    node = Follower(keys)
    leaf = make_delta(LIST, 1, LtHash16.of([A, B]).digest(), [A], []).encode()
    with pytest.raises(DigestMismatchError, match="after version 1"):
        node.verify(_signed(keys, [leaf]), [leaf])


def test_delta_that_cannot_apply(keys: Keys) -> None:
    node = Follower(keys)
    first = make_delta(LIST, 1, LtHash16.of([A]).digest(), [A], []).encode()
    node.follow(_signed(keys, [first]), [first])
    # Adding A again: the digest of the multiset {A, A} is what a cheating hub would sign.
    twice = LtHash16.of([A])
    twice.add([A])
    cases = {
        "adds .* already listed": make_delta(LIST, 2, twice.digest(), [A], []),
        "removes .* not listed": make_delta(LIST, 2, LtHash16().digest(), [], [B]),
        "expected 'takeitdown' version 2": make_delta(
            LIST, 3, LtHash16.of([A, B]).digest(), [B], []
        ),
        "delta for 'stopncii'": make_delta("stopncii", 2, LtHash16.of([A, B]).digest(), [B], []),
    }
    for message, delta in cases.items():
        leaf = delta.encode()
        with pytest.raises(DeltaConflictError, match=message):
            node.verify(_signed(keys, [first, leaf]), [leaf])


def test_wrong_number_of_leaves(keys: Keys, log: ListLog) -> None:
    node = Follower(keys)
    log.append([A])
    log.append([B])
    with pytest.raises(BadProofError, match="needs 2 leaves after 0, got 1"):
        node.verify(log.signed_checkpoint(NOW), log.leaves[:1])


def test_oversized_leaf(keys: Keys, log: ListLog) -> None:
    node = Follower(keys)
    log.append([A, B, C])
    with pytest.raises(OversizedDeltaError, match="over the 100-byte limit"):
        verify_update(
            node.state,
            log.signed_checkpoint(NOW),
            log.leaves,
            trust=node.trust,
            now=NOW,
            listed=node.listed,
            max_delta_bytes=100,
        )


def test_a_new_checkpoint_does_not_inherit_the_stored_freshness(keys: Keys, log: ListLog) -> None:
    node = Follower(keys, max_age=600)
    log.append([A])
    node.follow(log.signed_checkpoint(NOW + 1000), log.leaves, now=NOW + 1000)
    log.append([B])
    # Size 2 cosigned long ago must not pass as fresh because size 1 was fresh.
    with pytest.raises(StaleCheckpointError):
        node.verify(log.signed_checkpoint(NOW), log.leaves[1:], now=NOW + 1000)


def _witnessed_at(keys: Keys, log: ListLog, hub_time: int, *witness_times: int) -> bytes:
    """``log``'s checkpoint cosigned by the hub at ``hub_time`` and witness i at time i."""
    note = sign_checkpoint(log.checkpoint(), [keys.log])
    note = cosign(note, [keys.timestamp], hub_time)
    for witness, when in zip(keys.witnesses, witness_times, strict=False):
        note = cosign(note, [witness], when)
    return note


def test_one_witness_with_a_bad_line_does_not_sink_a_quorum_from_the_others(keys: Keys) -> None:
    node = Follower(keys, quorum=1)
    log = _log(keys)
    log.append([A])
    note = parse_note(_witnessed_at(keys, log, NOW, NOW, NOW))
    broken = keys.witnesses[0].name
    forged = [
        replace(s, signature=s.signature[:-1] + bytes([s.signature[-1] ^ 1]))
        if s.name == broken else s
        for s in note.signatures
    ]  # fmt: skip
    forged_note = Note(note.text, tuple(forged)).encode()
    node.follow(forged_note, log.leaves)  # the other witness is the quorum
    verified = verify_checkpoint(forged_note, node.trust, node.trust.origin(LIST))
    assert verified.witnesses == (keys.witnesses[1].name,)
    assert ignored_witnesses(verified, node.trust, NOW) == [
        f"{broken}: its cosignature does not verify"
    ]


def test_a_witness_clock_running_ahead_is_not_counted_nor_fatal(keys: Keys) -> None:
    node = Follower(keys, quorum=1, skew=300)
    log = _log(keys)
    log.append([A])
    fast = _witnessed_at(keys, log, NOW, NOW + 600, NOW)  # witness 1's clock: 10 min fast
    node.follow(fast, log.leaves)
    verified = verify_checkpoint(fast, node.trust, node.trust.origin(LIST))
    [ignored] = ignored_witnesses(verified, node.trust, NOW)
    assert ignored == f"{keys.witnesses[0].name}: its cosignature is dated 600 s in the future"
    alone = _witnessed_at(keys, log, NOW, NOW + 600)  # and no other witness: not enough
    with pytest.raises(QuorumError, match="within the allowed clock skew"):
        Follower(keys, quorum=1, skew=300).verify(alone, log.leaves)


def test_a_hub_freezing_a_witnessed_checkpoint_goes_stale(keys: Keys) -> None:
    """The hub keeps re-timestamping; its witnesses' cosignatures of it age."""
    node = Follower(keys, quorum=1, max_age=60)
    log = _log(keys)
    log.append([A])
    with pytest.raises(StaleCheckpointError, match="235 s old"):
        node.verify(_witnessed_at(keys, log, NOW, NOW - 235), log.leaves)
    node.follow(_witnessed_at(keys, log, NOW, NOW - 30), log.leaves)  # recently witnessed
