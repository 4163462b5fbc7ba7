"""The case tables of the hub's SQLite store (part of ``SqliteHubStore``).

A mixin, like ``ReportTables``: the store stays one class owning one file. It
needs the store's ``_reader()`` and ``_transaction()``. Every SQL statement
about cases and case policies is here.

What a case row keeps: its number, list, state, the PIN as a scrypt hash, the
lockout state, when it was opened, how many hashes it carries, the version
that listed it and the one that retracted its hashes, and ``retracting``
while a withdrawal's retraction is still to be published. Nothing about the
person who opened it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager

from hashlist.cases import (
    CasePolicy,
    CaseState,
    CaseView,
    PinAttempts,
    PolicyMode,
)
from hashlist.sqlite import among
from server.store.protocol import CaseRecord

_HELD_ELSEWHERE = (  # the open states: OPEN_STATES (a test checks they agree)
    "SELECT DISTINCT s.signal FROM case_signals s JOIN cases c ON c.number = s.number "
    "WHERE c.list_id=? AND c.state IN ('received','approved','listed') AND s.signal IN ({marks})"
)
_CASE_LISTED = "SELECT signal FROM case_listed WHERE list_id=? AND signal IN ({marks})"
_CASES = (
    "SELECT number, list_id, state, signals, opened_at, version, withdrawn_version FROM cases "
    "WHERE number > ?1 AND (?2 = '' OR list_id = ?2) AND (?3 = '' OR state = ?3) "
    "ORDER BY number LIMIT ?4"
)
_RECORD = (
    "SELECT number, list_id, state, signals, opened_at, version, withdrawn_version, pin_hash, "
    "failures, locks, locked_until, retracting FROM cases WHERE number=?"
)


def _view(row: tuple[str, str, str, int, int, int, int]) -> CaseView:
    number, list_id, state, signals, opened_at, version, withdrawn = row
    return CaseView(number, list_id, CaseState(state), signals, opened_at, version, withdrawn)


class CaseTables:
    def _reader(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    # --- policies ---

    def set_case_policy(self, policy: CasePolicy) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO case_policies VALUES(?,?,?,?)",
                (policy.list_id, policy.mode.value, policy.batch_seconds, policy.max_signals),
            )

    def case_policies(self) -> list[CasePolicy]:
        rows = self._reader().execute("SELECT * FROM case_policies ORDER BY list_id")
        return [CasePolicy(lid, PolicyMode(mode), secs, most) for lid, mode, secs, most in rows]

    # --- cases ---

    def open_case(
        self, view: CaseView, pin_hash: bytes, signals: Sequence[str]
    ) -> CaseRecord | None:
        """Store a new case; if its number is taken, the case already there instead."""
        with self._transaction() as db:
            found = _record(db, view.number)
            if found is not None:
                return found
            db.execute(
                "INSERT INTO cases(number, list_id, pin_hash, state, opened_at, signals) "
                "VALUES(?,?,?,?,?,?)",
                (view.number, view.list_id, pin_hash, view.state.value, view.opened_at,
                 len(signals)),
            )  # fmt: skip
            db.executemany(
                "INSERT INTO case_signals VALUES(?,?)", [(view.number, s) for s in signals]
            )
            return None

    def case(self, number: str) -> CaseRecord | None:
        return _record(self._reader(), number)

    def case_signals(self, numbers: Sequence[str]) -> set[str]:
        db, out = self._reader(), set()
        for number in numbers:
            out |= {r[0] for r in db.execute(
                "SELECT signal FROM case_signals WHERE number=?", (number,))}  # fmt: skip
        return out

    def cases(
        self, list_id: str = "", state: CaseState | None = None, after: str = "", limit: int = 100
    ) -> list[CaseView]:
        """Cases by number, after ``after``, of one list and state if given."""
        rows = self._reader().execute(
            _CASES, (after, list_id, "" if state is None else state.value, limit)
        )
        return [_view(r) for r in rows]

    def set_pin_attempts(self, number: str, attempts: PinAttempts) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE cases SET failures=?, locks=?, locked_until=? WHERE number=?",
                (attempts.failures, attempts.locks, attempts.locked_until, number),
            )

    def set_case_state(
        self, numbers: Sequence[str], state: CaseState, *, version: int | None = None
    ) -> None:
        """Move cases to ``state`` (and record the version that listed them)."""
        with self._transaction() as db:
            for number in numbers:
                db.execute(
                    "UPDATE cases SET state=?, version=COALESCE(?, version) WHERE number=?",
                    (state.value, version, number),
                )

    def close_case(
        self, number: str, *, retracting: bool, state: CaseState = CaseState.WITHDRAWN,
        at: int = 0,
    ) -> None:  # fmt: skip
        """Close the case (withdrawn, or rejected, at ``at``); ``retracting``: its hashes
        are to be retracted (until ``retraction_done``)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE cases SET state=?, retracting=?, closed_at=? WHERE number=?",
                (state.value, int(retracting), at, number),
            )

    def retraction_done(self, number: str, version: int, unlisted: Sequence[str] = ()) -> None:
        """The withdrawal's retraction is published (at ``version``); ``unlisted`` are no
        longer on the list because of cases."""
        with self._transaction() as db:
            db.execute(
                "UPDATE cases SET retracting=0, withdrawn_version=? WHERE number=?",
                (version, number),
            )
            list_id = db.execute("SELECT list_id FROM cases WHERE number=?", (number,)).fetchone()
            if list_id is not None:
                db.executemany("DELETE FROM case_listed WHERE list_id=? AND signal=?",
                               [(list_id[0], s) for s in unlisted])  # fmt: skip

    def mark_case_listed(self, list_id: str, signals: Sequence[str]) -> None:
        """``signals`` are (about to be) listed on ``list_id`` by cases."""
        with self._transaction() as db:
            db.executemany("INSERT OR IGNORE INTO case_listed VALUES(?,?)",
                           [(list_id, s) for s in signals])  # fmt: skip

    def case_listed(self, list_id: str, signals: Sequence[str]) -> set[str]:
        """Those of ``signals`` that cases put on ``list_id``."""
        return among(self._reader(), _CASE_LISTED, list_id, signals)

    def retractions_pending(self) -> list[str]:
        rows = self._reader().execute("SELECT number FROM cases WHERE retracting=1")
        return [r[0] for r in rows]

    def held_by_open_cases(self, list_id: str, signals: Sequence[str]) -> set[str]:
        """Those of ``signals`` that an open case of ``list_id`` holds."""
        return among(self._reader(), _HELD_ELSEWHERE, list_id, signals)


def _record(db: sqlite3.Connection, number: str) -> CaseRecord | None:
    row = db.execute(_RECORD, (number,)).fetchone()
    if row is None:
        return None
    view = _view(row[:7])
    return CaseRecord(view, bytes(row[7]), PinAttempts(*row[8:11]), bool(row[11]))
