"""The report and verdict tables of the hub's SQLite store (part of ``SqliteHubStore``).

A mixin, so that the store stays one class owning one file: it needs the
store's ``_reader()`` (a read connection of this thread) and
``_transaction()`` (the write connection, under the write lock). Every SQL
statement about reports and verdicts is here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager

from hashlist.model import Report, Verdict
from hashlist.sqlite import among
from server.store.protocol import ReportCounts

_REPORTS_OF = "SELECT report_id FROM reports WHERE partner=? AND report_id IN ({marks})"
_PURGE_REPORTS = (
    "DELETE FROM reports WHERE rowid IN (SELECT rowid FROM reports WHERE received_at<? LIMIT ?)"
)
_PURGE_VERDICTS = (
    "DELETE FROM verdicts WHERE rowid IN (SELECT rowid FROM verdicts WHERE received_at<? LIMIT ?)"
)


class ReportTables:
    def _reader(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def add_reports(
        self, partner: str, reports: Sequence[Report], verdicts: Sequence[Verdict], now: int
    ) -> tuple[int, int]:
        with self._transaction() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO reports VALUES(?,?,?,?,?,?,?,?,?)",
                [(r.report_id, partner, r.list_id, r.signal, r.distance, r.version,
                  r.content_key, r.matched_at, now) for r in reports],
            )  # fmt: skip
            new_reports = db.total_changes - before
            db.executemany(
                "INSERT OR IGNORE INTO verdicts VALUES(?,?,?,?,?,?)",
                [(v.verdict_id, v.report_id, partner, v.verdict, v.decided_at, now)
                 for v in verdicts],
            )  # fmt: skip
            return new_reports, db.total_changes - before - new_reports

    def reports_of(self, partner: str, report_ids: Sequence[str]) -> set[str]:
        return among(self._reader(), _REPORTS_OF, partner, report_ids)

    def report_counts(self, list_id: str, after: str = "", limit: int = 0) -> ReportCounts:
        db = self._reader()
        db.execute("BEGIN")
        try:
            signals = db.execute(
                "SELECT DISTINCT signal FROM reports WHERE list_id=? AND signal>? "
                "ORDER BY signal LIMIT ?",
                (list_id, after, limit or -1),
            ).fetchall()
            if not signals:
                return ReportCounts([], [], [])
            span = (list_id, after, signals[-1][0])
            per_partner = db.execute(
                "SELECT signal, partner, count(*) FROM reports WHERE list_id=? "
                "AND signal>? AND signal<=? GROUP BY signal, partner ORDER BY signal, partner",
                span,
            ).fetchall()
            verdicts = db.execute(_LATEST_VERDICTS, span).fetchall()
            dissenters = db.execute(_DISSENTERS, span).fetchall()
        finally:
            db.execute("COMMIT")
        return ReportCounts(per_partner, verdicts, dissenters)

    def purge_reports(self, received_before: int, batch: int) -> tuple[int, int]:
        with self._transaction() as db:
            reports = db.execute(_PURGE_REPORTS, (received_before, batch)).rowcount
            verdicts = db.execute(_PURGE_VERDICTS, (received_before, batch)).rowcount
        return reports, verdicts


# The latest verdict of each report, counted only if the reporting partner
# made it; then counted per listed hash and verdict (_LATEST_VERDICTS), or the
# partners whose latest verdict is not_violating counted per hash (_DISSENTERS).
_LATEST = """
FROM reports r
JOIN verdicts v ON v.report_id = r.report_id AND v.partner = r.partner
WHERE r.list_id = ? AND r.signal > ? AND r.signal <= ?
  AND v.rowid = (SELECT v2.rowid FROM verdicts v2
                 WHERE v2.report_id = r.report_id AND v2.partner = r.partner
                 ORDER BY v2.decided_at DESC, v2.rowid DESC LIMIT 1)
"""
_LATEST_VERDICTS = f"SELECT r.signal, v.verdict, count(*) {_LATEST} GROUP BY r.signal, v.verdict"
_DISSENTERS = (
    f"SELECT r.signal, count(DISTINCT r.partner) {_LATEST} "
    "AND v.verdict = 'not_violating' GROUP BY r.signal"
)
