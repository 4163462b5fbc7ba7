"""The publishing side of one list's log, in memory.

``ListLog`` turns requested changes into canonical deltas that satisfy the
log's invariants, appends them to an RFC 6962 tree and signs checkpoints. The
hub wraps it with durable storage; tests, the demo and benchmarks use it as
the reference publisher.

Invariants:

* Every leaf's additions were absent and its removals present just before it
  (requests for anything else are dropped and reported, never published).
* Each leaf carries the LtHash16 digest of the set after applying it.
* Every leaf is format version 2 and within ``max_delta_bytes``, itself at most
  ``MAX_ENTRY_BYTES`` (65,535): a request too large for one leaf becomes
  several consecutive leaves (``plan_deltas``), each a complete state.
* One root per size: the tree only grows, and ``sign`` signs the current size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass

from hashlist.checkpoint import Checkpoint, cosign, sign_checkpoint
from hashlist.delta import (
    FRAMES_LINE_OVERHEAD,
    MAX_ENTRY_BYTES,
    MAX_HEADER_BYTES,
    make_delta,
)
from hashlist.errors import InputError
from hashlist.lthash import LtHash16
from hashlist.merkle import MerkleTree
from hashlist.note import Signer
from hashlist.signals import SignalText, canonical
from hashlist.snapshot import SnapshotHeader
from hashlist.vpdq import FrameSet


@dataclass(frozen=True, slots=True)
class PlannedDelta:
    """What publishing a request would append; ``leaf`` is empty if nothing changes."""

    leaf: bytes
    lthash: bytes  # LtHash16 lanes after the delta
    additions: tuple[SignalText, ...]
    removals: tuple[SignalText, ...]
    already_listed: tuple[SignalText, ...]  # requested additions left out
    not_listed: tuple[SignalText, ...]  # requested removals left out


def canonical_request(
    additions: Iterable[str], removals: Iterable[str]
) -> tuple[set[SignalText], set[SignalText]]:
    """Canonical, de-duplicated signals of a publish request, or ``InputError``."""
    adds = {canonical(s) for s in additions}
    removes = {canonical(s) for s in removals}
    if not adds and not removes:
        raise InputError("empty delta: give at least one hash to add or remove")
    if adds & removes:
        raise InputError(f"{min(adds & removes)} is both added and removed")
    return adds, removes


def plan_delta(
    list_id: str,
    version: int,
    lthash: bytes,
    adds: set[SignalText],
    removes: set[SignalText],
    *,
    present: Set[str],
    max_delta_bytes: int,
    videos: Mapping[SignalText, FrameSet] | None = None,
) -> PlannedDelta:
    """The canonical delta for a request, given which of its signals are ``present``.

    Additions already present and removals not present are left out (and
    reported), so the leaf satisfies the log's invariants. ``videos``: the frame
    set of each added ``vpdq`` signal. Pure: the caller looks up ``present`` and
    commits the result.
    """
    already = tuple(sorted(adds & present))
    missing = tuple(sorted(removes - present))
    adds, removes = adds - present, removes & present
    if not adds and not removes:
        return PlannedDelta(b"", lthash, (), (), already, missing)
    state = LtHash16(lthash)
    state.update(adds, removes)
    frames = (videos or {}).values()
    leaf = make_delta(list_id, version, state.digest(), adds, removes, videos=frames).encode()
    if len(leaf) > max_delta_bytes:
        raise InputError(
            f"delta would be {len(leaf)} bytes, over the {max_delta_bytes}-byte limit: "
            "split it into smaller publications"
        )
    return PlannedDelta(
        leaf, state.to_bytes(), tuple(sorted(adds)), tuple(sorted(removes)), already, missing
    )


def _cost(change: tuple[SignalText, bool], videos: Mapping[SignalText, FrameSet]) -> int:
    """The bytes one change (signal, added?) takes in a delta: its line, and for an
    added video its ``frames`` line.

    Exact, so a leaf is its header (at most ``MAX_HEADER_BYTES``) plus the costs
    of its changes: changes whose costs add up to at most ``max_delta_bytes -
    MAX_HEADER_BYTES`` make a leaf within ``max_delta_bytes``. A change costs at
    most ``MAX_CHANGE_LINE_BYTES`` plus, for a video, ``FRAMES_LINE_OVERHEAD`` and
    58,499 bytes of frames: with the header, 58,772, so one video always fits in
    a leaf of 65,535.
    """
    signal, added = change
    video = videos.get(signal) if added else None
    frames = len(video.text) + FRAMES_LINE_OVERHEAD if video is not None else 0
    return len("add \n" if added else "remove \n") + len(signal) + frames


def plan_deltas(
    list_id: str,
    first_version: int,
    lthash: bytes,
    adds: set[SignalText],
    removes: set[SignalText],
    *,
    present: Set[str],
    max_delta_bytes: int,
    videos: Mapping[SignalText, FrameSet] | None = None,
) -> list[PlannedDelta]:
    """One request as consecutive deltas, each within ``max_delta_bytes``.

    Additions already present and removals not present are left out (the
    caller reports them); the rest is split in sorted order, removals first,
    so every delta applies to the state the previous one left; a video's
    frames go in the delta that adds it. Empty list: nothing would change. Pure.
    ``InputError`` if ``max_delta_bytes`` is over ``MAX_ENTRY_BYTES`` or too small
    for one of the changes.
    """
    if max_delta_bytes > MAX_ENTRY_BYTES:
        raise InputError(
            f"max_delta_bytes {max_delta_bytes} is over {MAX_ENTRY_BYTES}, the most a leaf "
            "of log format version 2 may be"
        )
    videos = videos or {}
    room = max_delta_bytes - MAX_HEADER_BYTES
    changes = [(s, False) for s in sorted(removes & present)]
    changes += [(s, True) for s in sorted(adds - present)]
    if changes and (largest := max(_cost(c, videos) for c in changes)) > room:
        raise InputError(
            f"max_delta_bytes {max_delta_bytes} cannot hold a single change of this "
            f"publication (one needs {largest + MAX_HEADER_BYTES} bytes with the header)"
        )
    parts: list[list[tuple[SignalText, bool]]] = []
    used = room
    for change in changes:
        cost = _cost(change, videos)
        if used + cost > room:
            parts.append([])
            used = 0
        parts[-1].append(change)
        used += cost
    plans: list[PlannedDelta] = []
    for part in parts:
        part_adds = {s for s, add in part if add}
        part_removes = {s for s, add in part if not add}
        plan = plan_delta(
            list_id, first_version + len(plans), lthash, part_adds, part_removes,
            present=part_removes, max_delta_bytes=max_delta_bytes,
            videos={s: videos[s] for s in part_adds if s in videos},
        )  # fmt: skip
        lthash = plan.lthash
        plans.append(plan)
    return plans


@dataclass(frozen=True, slots=True)
class Publication:
    """What one ``ListLog.append`` did: versions ``first_version..version``."""

    first_version: int
    version: int
    leaves: tuple[bytes, ...]
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
        max_delta_bytes: int = MAX_ENTRY_BYTES,
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

    def append(
        self, additions: Iterable[str], removals: Iterable[str] = (),
        videos: Iterable[FrameSet] = (),
    ) -> Publication:  # fmt: skip
        """Append one publication, as many leaves as ``max_delta_bytes`` needs (as the
        hub does); raises ``InputError`` if nothing would change."""
        adds, removes = canonical_request(additions, removals)
        present = self.members & (adds | removes)
        plans = plan_deltas(
            self.list_id, self.size + 1, self.lthash.to_bytes(), adds, removes,
            present=present, max_delta_bytes=self.max_delta_bytes,
            videos={v.signal: v for v in videos},
        )  # fmt: skip
        if not plans:
            raise InputError(
                "nothing to publish: every addition is listed and every removal unlisted"
            )
        first = self.size + 1
        for plan in plans:
            self.members |= set(plan.additions)
            self.members -= set(plan.removals)
            self.tree.append(plan.leaf)
            self.leaves.append(plan.leaf)
        self.lthash = LtHash16(plans[-1].lthash)
        return Publication(
            first, self.size, tuple(p.leaf for p in plans),
            sum(len(p.additions) for p in plans), sum(len(p.removals) for p in plans),
            tuple(sorted(adds & present)), tuple(sorted(removes - present)),
        )  # fmt: skip

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
