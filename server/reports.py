"""The hub's record of match reports and verdicts, and the operator's view of them.

Reports and verdicts arrive from nodes at least once; their ids are primary
keys, so a resent one is ignored and each is recorded exactly once. The
reporting partner is taken from the client certificate, never from the
message, and a verdict counts only when the same partner made the report.

``matches(list_id)`` answers, per listed hash: matches per partner, and the
latest verdict of each report counted as ``removed`` or ``not_violating``;
a hash with at least ``review_threshold`` not-violating verdicts is flagged
for the operator to review (and perhaps retract).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path

from hashlist.api import VERDICTS, HashMatches, Report, Verdict
from hashlist.delta import validate_list_id
from hashlist.errors import InputError
from hashlist.signals import canonical
from server.store import connect

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports(
    report_id TEXT PRIMARY KEY, partner TEXT NOT NULL, list_id TEXT NOT NULL,
    signal TEXT NOT NULL, distance INTEGER NOT NULL, version INTEGER NOT NULL,
    content_key TEXT NOT NULL, matched_at INTEGER NOT NULL, received_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS reports_by_list ON reports(list_id, signal);
CREATE TABLE IF NOT EXISTS verdicts(
    verdict_id TEXT PRIMARY KEY, report_id TEXT NOT NULL, partner TEXT NOT NULL,
    verdict TEXT NOT NULL, decided_at INTEGER NOT NULL, received_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS verdicts_by_report ON verdicts(report_id, partner);
"""
_ID = re.compile(r"[0-9a-f]{32}")
_KEY = re.compile(r"(?:[0-9a-f]{64})?")
MAX_BATCH = 5000
DEFAULT_REVIEW_THRESHOLD = 2


def validate_report(r: Report) -> None:
    if not _ID.fullmatch(r.report_id):
        raise InputError(f"report id {r.report_id[:40]!r} is not 32 lowercase hex digits")
    validate_list_id(r.list_id)
    if canonical(r.signal) != r.signal:
        raise InputError(f"report {r.report_id}: signal is not in canonical kind:hex form")
    if not _KEY.fullmatch(r.content_key):
        raise InputError(f"report {r.report_id}: content_key must be an HMAC-SHA256 hex or empty")
    if r.distance > 256 or r.version < 1:
        raise InputError(f"report {r.report_id}: distance or version out of range")


def validate_verdict(v: Verdict) -> None:
    if not _ID.fullmatch(v.verdict_id) or not _ID.fullmatch(v.report_id):
        raise InputError("verdict and report ids are 32 lowercase hex digits")
    if v.verdict not in VERDICTS:
        raise InputError(f"verdict must be one of {', '.join(VERDICTS)}, got {v.verdict[:40]!r}")


class ReportBook:
    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def submit(
        self, partner: str, reports: Sequence[Report], verdicts: Sequence[Verdict], now: int
    ) -> tuple[int, int]:
        """Record a batch in one transaction; returns how many of each were new."""
        if len(reports) + len(verdicts) > MAX_BATCH:
            raise InputError(f"at most {MAX_BATCH} reports and verdicts per batch")
        for r in reports:
            validate_report(r)
        for v in verdicts:
            validate_verdict(v)
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
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
                new_verdicts = db.total_changes - before - new_reports
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return new_reports, new_verdicts

    def matches(self, list_id: str, review_threshold: int) -> list[HashMatches]:
        threshold = review_threshold or DEFAULT_REVIEW_THRESHOLD
        with self._lock:
            per_partner = self._db.execute(
                "SELECT signal, partner, count(*) FROM reports WHERE list_id=? "
                "GROUP BY signal, partner ORDER BY signal, partner",
                (list_id,),
            ).fetchall()
            decided = self._db.execute(_LATEST_VERDICTS, (list_id,)).fetchall()
        partners: dict[str, list[tuple[str, int]]] = {}
        for signal, partner, n in per_partner:
            partners.setdefault(signal, []).append((partner, n))
        counts: dict[tuple[str, str], int] = {(s, v): n for s, v, n in decided}
        out = []
        for signal, who in partners.items():
            removed = counts.get((signal, "removed"), 0)
            not_violating = counts.get((signal, "not_violating"), 0)
            out.append(HashMatches(signal, tuple(who), removed, not_violating,
                                   not_violating >= threshold))  # fmt: skip
        return sorted(out, key=lambda h: (not h.review, -sum(n for _, n in h.partners), h.signal))


# The latest verdict of each report, counted only if the reporting partner
# made it; then counted per listed hash and verdict.
_LATEST_VERDICTS = """
SELECT r.signal, v.verdict, count(*)
FROM reports r
JOIN verdicts v ON v.report_id = r.report_id AND v.partner = r.partner
WHERE r.list_id = ?
  AND v.rowid = (SELECT v2.rowid FROM verdicts v2
                 WHERE v2.report_id = r.report_id AND v2.partner = r.partner
                 ORDER BY v2.decided_at DESC, v2.rowid DESC LIMIT 1)
GROUP BY r.signal, v.verdict
"""
