"""The oversight tables of the hub's SQLite store (part of ``SqliteHubStore``).

A mixin, like ``ReportTables``: the store stays one class owning one file. It
needs the store's ``_reader()`` and ``_transaction()``. Every SQL statement
behind the operator's console is here: the audit trail of operator actions,
each version's time and counts (``versions``, written by ``commit_publication``
in the publication's own transaction), the review queue's candidates and
details, dismissals, and activity per day.

Days are UTC: ``day`` is the unix time of the day's midnight.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager

from hashlist.oversight import ActionRecord, CaseDay, MatchDay, VersionInfo
from server.store.protocol import ReviewDetail

# The latest verdict of a report, counted only if the reporting partner made it. The
# queries below splice in this constant only (hence the noqa): values are parameters.
_LATEST_OF_R = (
    "(SELECT v.verdict FROM verdicts v WHERE v.report_id = r.report_id "
    "AND v.partner = r.partner ORDER BY v.decided_at DESC, v.rowid DESC LIMIT 1)"
)
_DISSENT = (
    f"SELECT r.signal FROM reports r WHERE r.list_id = ?1 AND {_LATEST_OF_R} = 'not_violating' "  # noqa: S608
    "AND EXISTS (SELECT 1 FROM members m WHERE m.list_id = ?1 AND m.signal = r.signal) "
    "GROUP BY r.signal HAVING count(DISTINCT r.partner) >= ?2"
)
_FLOOD = (
    "SELECT r.signal FROM reports r WHERE r.list_id = ?1 AND r.matched_at >= ?2 "
    "AND EXISTS (SELECT 1 FROM members m WHERE m.list_id = ?1 AND m.signal = r.signal) "
    "GROUP BY r.signal HAVING count(DISTINCT r.partner) >= ?3"
)
_MATCH_DAYS = (  # days are UTC: 86400 is hashlist.oversight.DAY
    "SELECT day, list_id, partner, count(*), count(CASE latest WHEN 'removed' THEN 1 END), "  # noqa: S608
    "count(CASE latest WHEN 'not_violating' THEN 1 END) "
    "FROM (SELECT (r.matched_at / 86400) * 86400 AS day, "
    f"r.list_id, r.partner, {_LATEST_OF_R} AS latest FROM reports r WHERE r.matched_at >= ?) "
    "GROUP BY day, list_id, partner ORDER BY day, list_id, partner"
)
_CASE_DAYS = (
    "SELECT (opened_at / 86400) * 86400, list_id, 'opened', count(*) FROM cases "
    "WHERE opened_at >= ?1 GROUP BY 1, 2 UNION ALL "
    "SELECT (closed_at / 86400) * 86400, list_id, state, count(*) FROM cases "
    "WHERE closed_at >= ?1 AND state IN ('withdrawn', 'rejected') GROUP BY 1, 2, 3"
)
_REVIEW_VERDICTS = (
    f"SELECT latest, count(*), count(DISTINCT partner) FROM (SELECT r.partner, {_LATEST_OF_R} "  # noqa: S608
    "AS latest FROM reports r WHERE r.list_id=? AND r.signal=?) WHERE latest IS NOT NULL "
    "GROUP BY latest"
)


class OversightTables:
    def _reader(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    # --- the audit trail ---

    def record_action(self, at: int, who: str, action: str, target: str, reason: str) -> int:
        with self._transaction() as db:
            cur = db.execute(
                "INSERT INTO actions(at, who, action, target, reason, outcome) "
                "VALUES(?,?,?,?,?,'started')",
                (at, who, action, target, reason),
            )
            return int(cur.lastrowid or 0)

    def finish_action(self, action_id: int, outcome: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE actions SET outcome=? WHERE id=?", (outcome, action_id))

    def actions(self, before: int = 0, limit: int = 100) -> list[ActionRecord]:
        rows = self._reader().execute(
            "SELECT id, at, who, action, target, reason, outcome FROM actions "
            "WHERE ?1 = 0 OR id < ?1 ORDER BY id DESC LIMIT ?2",
            (before, limit),
        )
        return [ActionRecord(*r) for r in rows]

    # --- a list's history ---

    def history(self, list_id: str, before: int = 0, limit: int = 50) -> list[VersionInfo]:
        rows = self._reader().execute(
            "SELECT version, published_at, added, removed FROM versions "
            "WHERE list_id = ?1 AND (?2 = 0 OR version < ?2) ORDER BY version DESC LIMIT ?3",
            (list_id, before, limit),
        )
        return [VersionInfo(*r) for r in rows]

    # --- the review queue ---

    def review_candidates(
        self, list_id: str, *, dissenters: int, since: int, partners: int, limit: int
    ) -> tuple[list[str], list[str]]:
        """Listed signals with at least ``dissenters`` partners whose latest verdict is
        not violating, and those matched by at least ``partners`` partners since
        ``since``: at most ``limit`` of each, by signal."""
        db = self._reader()
        dissent = db.execute(f"{_DISSENT} ORDER BY r.signal LIMIT ?3",
                             (list_id, dissenters, limit)).fetchall()  # fmt: skip
        flood = db.execute(f"{_FLOOD} ORDER BY r.signal LIMIT ?4",
                           (list_id, since, partners, limit)).fetchall()  # fmt: skip
        return [r[0] for r in dissent], [r[0] for r in flood]

    def review_details(
        self, list_id: str, signals: Sequence[str], since: int
    ) -> list[ReviewDetail]:
        db, out = self._reader(), []
        for signal in signals:
            per_partner = db.execute(
                "SELECT partner, count(*) FROM reports WHERE list_id=? AND signal=? "
                "GROUP BY partner ORDER BY partner",
                (list_id, signal),
            ).fetchall()
            latest = db.execute(_REVIEW_VERDICTS, (list_id, signal)).fetchall()
            recent, last = db.execute(
                "SELECT count(DISTINCT CASE WHEN matched_at >= ? THEN partner END), "
                "max(received_at) FROM reports WHERE list_id=? AND signal=?",
                (since, list_id, signal),
            ).fetchone()
            last_verdict = db.execute(
                "SELECT max(v.received_at) FROM verdicts v JOIN reports r "
                "ON r.report_id = v.report_id AND r.partner = v.partner "
                "WHERE r.list_id=? AND r.signal=?",
                (list_id, signal),
            ).fetchone()[0]
            counts = {verdict: (n, who) for verdict, n, who in latest}
            out.append(ReviewDetail(
                signal=signal, partners=tuple((p, n) for p, n in per_partner),
                removed=counts.get("removed", (0, 0))[0],
                not_violating=counts.get("not_violating", (0, 0))[0],
                dissenters=counts.get("not_violating", (0, 0))[1],
                recent_partners=recent or 0,
                last_activity=max(last or 0, last_verdict or 0),
            ))  # fmt: skip
        return out

    def dismiss_review(self, list_id: str, signal: str, at: int) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO review_dismissals VALUES(?,?,?)",
                       (list_id, signal, at))  # fmt: skip

    def review_dismissals(self, list_id: str) -> dict[str, int]:
        rows = self._reader().execute(
            "SELECT signal, at FROM review_dismissals WHERE list_id=?", (list_id,)
        )
        return dict(rows.fetchall())

    # --- activity ---

    def match_days(self, since: int) -> list[MatchDay]:
        rows = self._reader().execute(_MATCH_DAYS, (since,))
        return [MatchDay(*r) for r in rows]

    def case_days(self, since: int) -> list[CaseDay]:
        days: dict[tuple[int, str], dict[str, int]] = {}
        for day, list_id, what, n in self._reader().execute(_CASE_DAYS, (since,)):
            days.setdefault((day, list_id), {})[what] = n
        return [
            CaseDay(day, list_id, c.get("opened", 0), c.get("withdrawn", 0), c.get("rejected", 0))
            for (day, list_id), c in sorted(days.items())
        ]
