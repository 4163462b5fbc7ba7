"""The publishing side of one list's log, in memory.

``ListLog`` turns requested changes into canonical deltas that satisfy the
log's invariants, appends them to an RFC 6962 tree and signs checkpoints. The
hub wraps it with durable storage; tests, the demo and benchmarks use it as
the reference publisher.

Invariants:

* Every leaf's additions were absent and its removals present just before it
  (requests for anything else are dropped and reported, never published).
* Each leaf carries the LtHash16 digest of the set after applying it.
* One root per size: the tree only grows, and ``sign`` signs the current size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hashlist.checkpoint import Checkpoint, cosign, sign_checkpoint
from hashlist.delta import DEFAULT_MAX_DELTA_BYTES, make_delta
from hashlist.errors import InputError
from hashlist.lthash import LtHash16
from hashlist.merkle import MerkleTree
from hashlist.note import Signer
from hashlist.signals import SignalText, canonical
from hashlist.snapshot import SnapshotHeader


@dataclass(frozen=True, slots=True)
class Publication:
    version: int
    leaf: bytes
    added: int
    removed: int
    already_listed: tuple[SignalText, ...]  # requested additions left out
    not_listed: tuple[SignalText, ...]  # requested removals left out


class ListLog:
    """One list: its current set, its tree of deltas and its signing keys."""

    def __init__(
        self,
        list_id: str,
        origin: str,
        log_signers: list[Signer],
        cosigners: list[Signer],
        *,
        max_delta_bytes: int = DEFAULT_MAX_DELTA_BYTES,
    ) -> None:
        self.list_id = list_id
        self.origin = origin
        self.log_signers = log_signers
        self.cosigners = cosigners
        self.max_delta_bytes = max_delta_bytes
        self.members: set[SignalText] = set()
        self.lthash = LtHash16()
        self.tree = MerkleTree()
        self.leaves: list[bytes] = []

    @property
    def size(self) -> int:
        return self.tree.size

    def publish(self, additions: Iterable[str], removals: Iterable[str] = ()) -> Publication:
        """Append one delta; raises ``InputError`` if nothing would change."""
        adds = {canonical(s) for s in additions}
        removes = {canonical(s) for s in removals}
        if adds & removes:
            raise InputError(f"{min(adds & removes)} is both added and removed")
        already = sorted(adds & self.members)
        missing = sorted(removes - self.members)
        adds.difference_update(already)
        removes.difference_update(missing)
        if not adds and not removes:
            raise InputError(
                "nothing to publish: every addition is listed and every removal unlisted"
            )
        lthash = self.lthash.copy()
        lthash.update(adds, removes)
        delta = make_delta(self.list_id, self.size + 1, lthash.digest(), adds, removes)
        leaf = delta.encode()
        if len(leaf) > self.max_delta_bytes:
            raise InputError(
                f"delta would be {len(leaf)} bytes, over the {self.max_delta_bytes}-byte limit: "
                "split it into smaller publications"
            )
        self.members |= adds
        self.members -= removes
        self.lthash = lthash
        self.tree.append(leaf)
        self.leaves.append(leaf)
        return Publication(self.size, leaf, len(adds), len(removes), tuple(already), tuple(missing))

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.origin, self.size, self.tree.root())

    def snapshot(self, now: int, from_size: int = 0) -> tuple[SnapshotHeader, list[SignalText]]:
        """The current set with what verifies it (see ``snapshot.py``)."""
        n = self.size
        header = SnapshotHeader(
            note=self.signed_checkpoint(now),
            compact_range=self.tree.compact_range().hashes,
            last_leaf=self.leaves[-1],
            last_leaf_proof=tuple(self.tree.inclusion_proof(n - 1)),
            consistency_proof=tuple(self.tree.consistency_proof(from_size)) if from_size else (),
            count=len(self.members),
        )
        return header, sorted(self.members)

    def signed_checkpoint(self, now: int) -> bytes:
        """The current checkpoint, signed by the log key(s) and cosigned at ``now``."""
        note = sign_checkpoint(self.checkpoint(), self.log_signers)
        return cosign(note, self.cosigners, now) if self.cosigners else note
