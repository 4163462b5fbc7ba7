"""Pure audit checks: a list's whole history, and a node's replica, against signatures.

``replay_history`` recomputes, from the leaves alone, every leaf hash, every
root and every state digest, and checks the newest signed checkpoint and
every checkpoint the auditor saw on earlier runs: each must be signed, and
the recomputed tree must have exactly its root at its size. A hub that
rewrote history after the fact fails here with an ``EquivocationError``
carrying the earlier note and the current one.

``check_replica`` recomputes a replica's state digest from its rows and
compares it with the digest that the signed history commits to at the
replica's version (the state line of the last leaf, proven included under
the signed root).

Like ``hashlist.verify`` these read nothing but their arguments; the time
and all bytes are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass

from hashlist.checkpoint import VerifiedCheckpoint, verify_checkpoint
from hashlist.delta import DEFAULT_MAX_DELTA_BYTES, decode_delta
from hashlist.errors import (
    BadProofError,
    DigestMismatchError,
    EquivocationError,
    RollbackError,
    VerificationError,
)
from hashlist.lthash import LtHash16
from hashlist.merkle import MerkleTree, hash_leaf, verify_inclusion
from hashlist.signals import SignalText
from hashlist.trustroot import TrustRoot
from hashlist.verify import StepVerifier, TrustedState


@dataclass(frozen=True, slots=True)
class ReplayReport:
    list_id: str
    size: int
    root: bytes
    state_digest: bytes
    hashes: int
    earlier_checkpoints: int
    cosigned_at: int


@dataclass(frozen=True, slots=True)
class KeptNote:
    """A checkpoint an earlier run verified, and the trust-root version it verified
    under (0: not recorded, as earlier releases kept them)."""

    note: bytes
    trust_version: int = 0


def verify_kept(kept: KeptNote, chain: Sequence[TrustRoot], list_id: str) -> VerifiedCheckpoint:
    """``kept`` against the version of ``chain`` it was verified under; one kept without a
    version, against the newest version whose keys verify it. After a completed key
    rotation the current version no longer names the key an old checkpoint carries."""
    if kept.trust_version > chain[-1].version:
        raise RollbackError(
            f"a checkpoint kept earlier was verified under trust-root version "
            f"{kept.trust_version}, but the hub now serves versions up to {chain[-1].version} "
            "only: it withholds a version this auditor accepted"
        )
    recorded = [t for t in chain if t.version == kept.trust_version]
    candidates = recorded or list(reversed(chain))  # not recorded, or before chain[0]
    refusals: list[VerificationError] = []
    for trust in candidates:  # never empty: the chain holds at least the current version
        try:
            return verify_checkpoint(kept.note, trust, trust.origin(list_id))
        except VerificationError as e:
            refusals.append(e)
    raise refusals[0]


def replay_history(
    list_id: str,
    note: bytes,
    leaves: Iterable[bytes],
    *,
    trust: TrustRoot,
    now: int,
    seen: Sequence[KeptNote] = (),
    earlier_trusts: Sequence[TrustRoot] = (),
    max_delta_bytes: int = DEFAULT_MAX_DELTA_BYTES,
) -> ReplayReport:
    """``earlier_trusts`` are the trust-root versions before ``trust`` (oldest first):
    a kept checkpoint is checked against the version it was verified under."""
    origin = trust.origin(list_id)
    chain = [*earlier_trusts, trust]
    earlier = [verify_kept(k, chain, list_id) for k in seen]
    step = StepVerifier(
        TrustedState.empty(list_id), verify_checkpoint(note, trust, origin), trust=trust,
        now=now, max_delta_bytes=max_delta_bytes,
    )  # fmt: skip
    size = step.target_size
    for old in earlier:
        if old.checkpoint.size > size:
            raise RollbackError(
                f"the hub now serves size {size}, but signed size {old.checkpoint.size} before"
            )
    members: set[SignalText] = set()
    tree = MerkleTree()

    def listed(signals: Sequence[SignalText]) -> Set[SignalText]:
        return members.intersection(signals)

    for leaf in leaves:
        delta = step.feed(leaf, listed)
        members.difference_update(delta.removals)
        members.update(delta.additions)
        tree.append_hash(hash_leaf(leaf))
    state = step.finish()
    for old in earlier:
        cp = old.checkpoint
        if cp.size and tree.root(cp.size) != cp.root:
            raise EquivocationError(
                f"history rewritten: the hub signed root {cp.root.hex()[:16]}... at size "
                f"{cp.size} before, and now serves leaves whose root at that size differs",
                trusted_note=old.note,
                conflicting_note=note,
            )
    return ReplayReport(
        list_id, size, state.root, state.state_digest, len(members), len(earlier),
        state.cosigned_at,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReplicaReport:
    list_id: str
    size: int
    rows: int
    digest: bytes


def check_replica(
    stored: TrustedState,
    rows: Iterable[str],
    *,
    trust: TrustRoot,
    last_leaf: bytes,
    last_leaf_proof: Sequence[bytes],
) -> ReplicaReport:
    """Rows of a replica against the signed history at its version (``stored.size``)."""
    count = 0

    def counted() -> Iterable[str]:
        nonlocal count
        for row in rows:
            count += 1
            yield row

    digest = LtHash16.of(counted()).digest()  # LtHash16 hashes in bounded chunks
    if stored.size == 0:
        if count:
            raise DigestMismatchError(f"the replica is at version 0 but holds {count} rows")
        return ReplicaReport(stored.list_id, 0, 0, digest)
    verified = verify_checkpoint(stored.checkpoint_note, trust, trust.origin(stored.list_id))
    cp = verified.checkpoint
    if cp.size != stored.size or cp.root != stored.root:
        raise BadProofError(
            f"the replica claims version {stored.size} but its stored checkpoint is for "
            f"size {cp.size} or another root"
        )
    verify_inclusion(hash_leaf(last_leaf), cp.size - 1, cp.size, last_leaf_proof, cp.root)
    delta = decode_delta(last_leaf)
    if delta.version != cp.size or delta.list_id != stored.list_id:
        raise BadProofError("the last leaf is not this list's version at the replica's size")
    if digest != delta.state_digest:
        raise DigestMismatchError(
            f"{stored.list_id}: the replica's {count} rows hash to {digest.hex()[:16]}..., "
            f"the signed history says {delta.state_digest.hex()[:16]}... at version {cp.size}"
        )
    return ReplicaReport(stored.list_id, cp.size, count, digest)
