"""What the node needs from its database: three protocols and their records.

* ``ReplicaReader``: read-only questions about the replica (the Matcher,
  ``node status``, the auditor). It never writes, and never creates a file.
* ``ReplicaStore``: the sync loop's writer; every change to a list's rows and
  verified state happens inside one ``step`` (or ``replace``) transaction,
  committed only after the core verified the whole step.
* ``OutboxStore``: durable rows of reports and verdicts for the hub.

Today SQLite implements all three (``node.store.sqlite``, ``node.store.outbox``);
any other implementation must pass the same contract suite
(``tests/unit/test_node_store_contract.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from hashlist.delta import Delta
from hashlist.signals import SignalText
from hashlist.verify import TrustedState
from hashlist.vpdq import FrameSet

NEAR_PREFIXES = ("pdq:", "phash:")
"""Signals the observer hears about: the kinds with a near-match index."""
FRAME_PREFIX = "frame:"
"""How the observer hears of a video frame hash that appears in, or leaves, a list (a
list's first video with that frame adds it, its last one removes it)."""


@dataclass(frozen=True, slots=True)
class ListRecord:
    state: TrustedState
    seen_size: int
    alarm: str
    halted: bool
    updated_at: int
    contact: str = ""  # "" when the hub last answered; else "unreachable: ..." or "refused: ..."
    contact_since: int = 0  # when the current contact problem began


@dataclass(frozen=True, slots=True)
class Evidence:
    kind: str
    message: str
    trusted_note: bytes
    conflicting_note: bytes


class ReplicaObserver(Protocol):
    """Told about each committed step (the Matcher's near index)."""

    def exclusive(self) -> AbstractContextManager[object]:
        """Held across the commit and the ``applied`` call."""
        ...

    def applied(
        self, list_id: str, changes: Sequence[tuple[list[str], list[str]]], *, replaced: bool
    ) -> None:
        """A committed step: per delta, in order, the perceptual signals it added and
        removed (and ``frame:<hex>`` for video frames); or, if ``replaced``, the list's
        rows were replaced wholesale."""
        ...


class ReplicaReader(Protocol):
    def lists(self) -> list[str]:
        """Every list this replica holds a verified state for."""
        ...

    def record(self, list_id: str) -> ListRecord: ...
    def state(self, list_id: str) -> TrustedState: ...
    def count(self, list_id: str) -> int: ...
    def listed(self, list_id: str, signals: Sequence[SignalText]) -> set[SignalText]:
        """Those of ``signals`` the replica holds now."""
        ...

    def version_of(self, list_id: str, signal: str) -> int | None:
        """The version ``signal`` was listed in, or None if it is not listed."""
        ...

    def signals(self, list_id: str) -> Iterator[str]:
        """Every signal of the list, streamed."""
        ...

    def digests(self, list_id: str, kind: str, chunk: int) -> Iterator[list[str]]:
        """The hex digests of the list's signals of ``kind``, in chunks (index loading)."""
        ...

    def video_frames(self, list_id: str, chunk: int) -> Iterator[list[str]]:
        """The distinct frame hashes (hex) of the list's videos, in chunks (index loading)."""
        ...

    def videos_with(self, list_id: str, frames: Sequence[str]) -> list[tuple[str, str]]:
        """(frame, video signal) for each listed video of the list holding one of ``frames``."""
        ...

    def video_codes(self, list_id: str, signal: str) -> list[str]:
        """The frame hashes (hex) of a listed video; empty if it is not listed."""
        ...

    def consistent(
        self, list_id: str
    ) -> AbstractContextManager[tuple[TrustedState, Iterator[str]]]:
        """The verified state and every signal of the list, read as of one moment."""
        ...

    def trust_root(self, version: int) -> bytes | None:
        """A signed trust-root version accepted earlier (re-verified on every start)."""
        ...

    def evidence(self, list_id: str) -> list[Evidence]: ...
    def close(self) -> None: ...


class ReplicaStep(Protocol):
    """The open transaction of one step the core verified in full beforehand.

    Whether a delta applies cleanly was decided by the verifier; a replica
    that disagrees (a row missing or already there) is corrupt, and the step
    fails with ``StorageError``."""

    def apply(self, delta: Delta) -> None: ...
    def insert(
        self, signals: Sequence[SignalText], versions: Sequence[int],
        frame_sets: Sequence[FrameSet] = (),
    ) -> None:  # fmt: skip
        """Rows of a replica being replaced (``signals[i]`` listed in ``versions[i]``),
        with the frame sets of the videos among them."""
        ...

    def commit(self, state: TrustedState) -> None: ...


class ReplicaStore(ReplicaReader, Protocol):
    def step(self, list_id: str, now: int) -> AbstractContextManager[ReplicaStep]:
        """A transaction that applies verified deltas and commits the new state; an
        exception inside (or no ``commit``) rolls everything back."""
        ...

    def replace(self, list_id: str, now: int) -> AbstractContextManager[ReplicaStep]:
        """Like ``step``, but starting from an empty replica (snapshot bootstrap)."""
        ...

    def set_seen(self, list_id: str, size: int) -> None: ...
    def set_alarm(self, list_id: str, alarm: str) -> None: ...
    def set_contact(self, list_id: str, contact: str, now: int) -> None:
        """How the last contact with the hub went ("" when it answered); the time is kept
        from the first of a run of the same kind of problem."""
        ...

    def halt(
        self, list_id: str, *, kind: str, message: str, trusted: bytes, conflicting: bytes, now: int
    ) -> None:
        """Keep evidence and stop applying this list, in one transaction."""
        ...

    def add_trust_roots(self, signed: Sequence[tuple[int, bytes]]) -> None: ...


class OutboxStore(Protocol):
    def secret(self, fresh: bytes) -> bytes:
        """The node's content-key secret: ``fresh`` is stored if none is yet."""
        ...

    def add(self, rows: Sequence[tuple[str, str, str, int, str | None]]) -> None:
        """(id, kind 'report' or 'verdict', JSON body, created_at, match key or None), in one
        transaction; a duplicate id or match key refuses the whole batch."""
        ...

    def report_for(self, match_key: str) -> str | None:
        """The id of the report already filed under ``match_key``, if any."""
        ...

    def has_report(self, report_id: str) -> bool: ...
    def pending(self, limit: int) -> list[tuple[int, str, str]]:
        """(seq, kind, body) not yet delivered nor refused, oldest first."""
        ...

    def mark(self, seqs: Sequence[int], *, now: int, refused: str = "") -> None: ...
    def backlog(self) -> int: ...
    def close(self) -> None: ...
