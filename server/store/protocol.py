"""What the hub needs from its database: the ``HubStore`` protocol and its records.

The hub's logic (``server.publishing``, ``server.reading``, ...) talks to
this protocol only. Today one implementation exists (``SqliteHubStore``); a
PostgreSQL one must pass the same contract suite
(``tests/unit/test_hub_store_contract.py``) and nothing else changes.

Contract, for every implementation:

* ``commit_publication`` is atomic (every entry's leaf, checkpoint and set
  changes, the LtHash, the served note, the idempotency record: all or none)
  and refuses entries that do not start at the list's size + 1, so two roots
  for one size cannot be stored however writers race.
* ``update_cosigned`` replaces the served note only while the list is still
  at the given size.
* ``snapshot`` yields a view whose every read sees one version of the list,
  even while publications commit.
* Report and verdict ids are unique: a resent one is ignored and counted as
  not new. ``purge_reports`` deletes by the time the hub received them.
* A case number is unique: ``open_case`` stores a case with its hashes whole,
  or returns the case already stored under that number and stores nothing.
* ``versions`` rows are written with their publication, in its transaction;
  an action recorded as started stays so until ``finish_action``.
* ``held_by_open_cases`` counts received, approved and listed cases only;
  ``retraction_done`` and forgetting its signals as listed by cases are one
  transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from hashlist.cases import CasePolicy, CaseState, CaseView, PinAttempts
from hashlist.identity import Identity
from hashlist.model import Report, Verdict
from hashlist.oversight import ActionRecord, CaseDay, MatchDay, VersionInfo
from hashlist.signals import SignalText
from hashlist.vpdq import FrameSet


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """A case as stored: what is shown, the PIN's stored hash, its lockout state, and
    whether a withdrawal's retraction is still to be published."""

    view: CaseView
    pin_hash: bytes
    attempts: PinAttempts
    retracting: bool


@dataclass(frozen=True, slots=True)
class ListRow:
    list_id: str
    size: int
    hashes: int
    lthash: bytes
    latest_note: bytes
    cosigned_at: int


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One leaf of a publication, and the checkpoint of its size."""

    version: int
    leaf: bytes
    leaf_hash: bytes
    additions: Sequence[SignalText]
    removals: Sequence[SignalText]
    log_note: bytes  # signed by the log keys only: kept forever
    videos: Sequence[FrameSet] = ()  # the frame sets of the added vpdq signals


@dataclass(frozen=True, slots=True)
class NewPublication:
    """Everything one publication writes: consecutive entries from the list's size + 1."""

    list_id: str
    entries: Sequence[LogEntry]
    hashes: int  # after the last entry
    lthash: bytes  # after the last entry
    cosigned_note: bytes  # the last entry's checkpoint with the timestamp cosignature: served
    cosigned_at: int
    idempotency_key: str
    response: bytes
    request_digest: bytes = b""  # SHA-256 of the canonical request the key was used for


class SnapshotView(Protocol):
    """One consistent version of a list, open for reading (see ``HubStore.snapshot``)."""

    @property
    def row(self) -> ListRow: ...

    def leaf(self, index: int) -> bytes: ...

    def members(self) -> Iterator[tuple[str, int]]:
        """(signal, version listed in), ordered by signal."""
        ...

    def videos(self, signals: Sequence[str]) -> dict[str, bytes]:
        """The frame set text of each listed vpdq signal among ``signals``."""
        ...


@dataclass(frozen=True, slots=True)
class ReportCounts:
    """Per listed hash of one list: reports per partner, and latest verdicts by kind."""

    per_partner: Sequence[tuple[str, str, int]]  # (signal, partner, reports)
    verdicts: Sequence[tuple[str, str, int]]  # (signal, verdict, reports whose latest it is)
    # (signal, distinct partners with a report whose latest verdict is not_violating)
    dissenters: Sequence[tuple[str, int]] = ()


@dataclass(frozen=True, slots=True)
class ReviewDetail:
    """The reports on one listed hash, for the review queue."""

    signal: str
    partners: tuple[tuple[str, int], ...]  # (partner, reports), by partner
    removed: int  # reports whose latest verdict is removed
    not_violating: int
    dissenters: int  # distinct partners with a report whose latest verdict is not_violating
    recent_partners: int  # distinct partners with a report matched since the time asked
    last_activity: int  # the last report or verdict received on it (0: none)


class HubStore(Protocol):
    # --- lists and grants ---
    def create_list(self, row: ListRow, log_note: bytes) -> bool: ...
    def lists(self) -> list[ListRow]: ...
    def get_list(self, list_id: str) -> ListRow | None: ...
    def set_grant(self, list_id: str, partner: str, granted: bool) -> bool: ...
    def partners(self, list_id: str) -> list[str]: ...

    def revoke(self, serial: str, at: int) -> bool:
        """Record a certificate serial as revoked; False if it was already."""
        ...

    def revoked(self) -> set[str]: ...
    def saw_certificate(self, who: Identity, at: int) -> None:
        """Record (or refresh the last sighting of) a certificate that made a call."""
        ...

    def certificates(self) -> list[tuple[str, str, str, int, int]]:
        """(serial, role, name, not_after, last_seen) of every certificate seen."""
        ...

    def set_progress(self, partner: str, list_id: str, version: int, at: int) -> None: ...
    def progress(self) -> list[tuple[str, str, int, int]]:
        """(partner, list id, version, reported at) of every report kept."""
        ...

    def grants(self) -> list[tuple[str, str]]:
        """(list id, partner) of every grant."""
        ...

    # --- publishing ---
    def listed(self, list_id: str, signals: Sequence[str]) -> set[str]: ...
    def ever_listed(self, list_id: str, signals: Sequence[str]) -> set[str]:
        """Those of ``signals`` that are or once were on the list."""
        ...

    def publication(self, key: str) -> tuple[str, bytes, bytes] | None:
        """(list id, stored response, request digest or b"") of an idempotency key."""
        ...

    def commit_publication(self, new: NewPublication) -> None: ...
    def update_cosigned(self, list_id: str, size: int, note: bytes, cosigned_at: int) -> bool: ...

    # --- reading the log ---
    def leaf_hashes(self, list_id: str) -> Iterator[bytes]: ...
    def log_note(self, list_id: str, size: int) -> bytes:
        """The checkpoint of ``size`` as the log keys signed it (``StorageError`` if none)."""
        ...

    def leaves(self, list_id: str, start: int, end: int) -> Iterator[bytes]: ...
    def snapshot(self, list_id: str) -> AbstractContextManager[SnapshotView]: ...

    # --- reports ---
    def add_reports(
        self, partner: str, reports: Sequence[Report], verdicts: Sequence[Verdict], now: int
    ) -> tuple[int, int]: ...
    def reports_of(self, partner: str, report_ids: Sequence[str]) -> set[str]:
        """Those of ``report_ids`` that ``partner`` reported."""
        ...

    def report_counts(self, list_id: str, after: str = "", limit: int = 0) -> ReportCounts:
        """Counts for the first ``limit`` reported signals (0: all) ordered after ``after``."""
        ...

    def purge_reports(self, received_before: int, batch: int) -> tuple[int, int]:
        """Delete up to ``batch`` reports and ``batch`` verdicts received before the time;
        returns how many of each went."""
        ...

    # --- cases ---
    def set_case_policy(self, policy: CasePolicy) -> None: ...
    def case_policies(self) -> list[CasePolicy]: ...
    def open_case(
        self, view: CaseView, pin_hash: bytes, signals: Sequence[str]
    ) -> CaseRecord | None:
        """Store a new case, or return the one already stored under its number."""
        ...

    def case(self, number: str) -> CaseRecord | None: ...
    def case_signals(self, numbers: Sequence[str]) -> set[str]: ...
    def cases(
        self, list_id: str = "", state: CaseState | None = None, after: str = "", limit: int = 100
    ) -> list[CaseView]: ...
    def set_pin_attempts(self, number: str, attempts: PinAttempts) -> None: ...
    def set_case_state(
        self, numbers: Sequence[str], state: CaseState, *, version: int | None = None
    ) -> None: ...
    def close_case(
        self, number: str, *, retracting: bool, state: CaseState = CaseState.WITHDRAWN,
        at: int = 0,
    ) -> None: ...  # fmt: skip
    def retraction_done(self, number: str, version: int, unlisted: Sequence[str] = ()) -> None: ...

    def mark_case_listed(self, list_id: str, signals: Sequence[str]) -> None: ...
    def case_listed(self, list_id: str, signals: Sequence[str]) -> set[str]:
        """Those of ``signals`` that cases (not the operator) put on the list."""
        ...

    def retractions_pending(self) -> list[str]: ...
    def held_by_open_cases(self, list_id: str, signals: Sequence[str]) -> set[str]: ...

    # --- oversight ---
    def record_action(self, at: int, who: str, action: str, target: str, reason: str) -> int:
        """Record an operator action as started; returns its id (ascending)."""
        ...

    def finish_action(self, action_id: int, outcome: str) -> None: ...
    def actions(self, before: int = 0, limit: int = 100) -> list[ActionRecord]:
        """The newest ``limit`` actions with an id under ``before`` (0: the newest)."""
        ...

    def history(self, list_id: str, before: int = 0, limit: int = 50) -> list[VersionInfo]:
        """A list's versions under ``before`` (0: from the newest), newest first."""
        ...

    def review_candidates(
        self, list_id: str, *, dissenters: int, since: int, partners: int, limit: int
    ) -> tuple[list[str], list[str]]: ...
    def review_details(
        self, list_id: str, signals: Sequence[str], since: int
    ) -> list[ReviewDetail]: ...
    def dismiss_review(self, list_id: str, signal: str, at: int) -> None: ...
    def review_dismissals(self, list_id: str) -> dict[str, int]: ...
    def match_days(self, since: int) -> list[MatchDay]: ...
    def case_days(self, since: int) -> list[CaseDay]: ...

    def close(self) -> None: ...
