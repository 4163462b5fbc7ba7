"""The node's durable outbox of match reports and verdicts, and its sender.

A report is written to the ``outbox`` table of the node's database in the
same transaction that records the match, with an id chosen here; the
``OutboxSender`` delivers pending rows to the hub in ``seq`` order, in
batches, and marks them delivered only after the hub acknowledged them. The
hub de-duplicates by id, so a batch resent after a crash or a lost answer is
harmless: delivery is at least once, the hub's record exactly once.

The platform's content id never leaves this module unhashed: only
HMAC-SHA256 under a node-local secret (kept in ``meta``) is stored or sent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from hashlist.api import VERDICTS, Report, Verdict
from hashlist.client import Backoff
from hashlist.clock import Clock
from hashlist.errors import (
    HashlistError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    StorageError,
)

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('report', 'verdict')),
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER,
    refused TEXT);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(seq)
    WHERE delivered_at IS NULL AND refused IS NULL;
"""


def new_id() -> str:
    return uuid.uuid4().hex


class Outbox:
    """Outbox rows in the node database; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        try:
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None,
                                       check_same_thread=False)  # fmt: skip
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as e:
            raise StorageError(f"cannot open the outbox in {path}: {e}") from e
        self._lock = threading.Lock()
        self._secret = self._load_secret()

    def close(self) -> None:
        self._db.close()

    def _load_secret(self) -> bytes:
        fresh = secrets.token_hex(32)
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO meta VALUES('content_key_secret', ?)", (fresh,))
            row = self._db.execute("SELECT value FROM meta WHERE key='content_key_secret'")
            return bytes.fromhex(row.fetchone()[0])

    def content_key(self, content_id: str) -> str:
        """The keyed hash that stands for ``content_id`` everywhere outside the platform."""
        if not content_id:
            return ""
        return hmac.new(self._secret, content_id.encode(), hashlib.sha256).hexdigest()

    def add_reports(self, reports: Sequence[Report], now: int) -> None:
        rows = [(r.report_id, "report", _body(r), now) for r in reports]
        self._insert(rows)

    def add_verdict(self, report_id: str, verdict: str, now: int) -> Verdict:
        if verdict not in VERDICTS:
            raise InputError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
        with self._lock:
            known = self._db.execute(
                "SELECT 1 FROM outbox WHERE id=? AND kind='report'", (report_id,)
            ).fetchone()
        if known is None:
            raise NotFoundError(f"no match with report id {report_id!r} on this node")
        v = Verdict(new_id(), report_id, verdict, now)
        self._insert([(v.verdict_id, "verdict", _body(v), now)])
        return v

    def _insert(self, rows: list[tuple[str, str, str, int]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO outbox(id, kind, body, created_at) VALUES(?,?,?,?)", rows
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def pending(self, limit: int) -> list[tuple[int, Report | Verdict]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, kind, body FROM outbox WHERE delivered_at IS NULL AND refused IS NULL "
                "ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [(seq, _parse(kind, body)) for seq, kind, body in rows]

    def mark(self, seqs: Sequence[int], *, now: int, refused: str = "") -> None:
        column = "refused" if refused else "delivered_at"
        value: str | int = refused or now
        with self._lock:
            self._db.executemany(
                f"UPDATE outbox SET {column}=? WHERE seq=?",  # noqa: S608 - fixed column names
                ((value, s) for s in seqs),
            )

    def backlog(self) -> int:
        with self._lock:
            q = "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND refused IS NULL"
            return int(self._db.execute(q).fetchone()[0])


def _body(item: Report | Verdict) -> str:
    return json.dumps(dataclasses.asdict(item), sort_keys=True)


def _parse(kind: str, body: str) -> Report | Verdict:
    fields = json.loads(body)
    return Report(**fields) if kind == "report" else Verdict(**fields)


class ReportSink(Protocol):
    """Where reports go (``hashlist.client.HubClient.submit``)."""

    def submit(self, reports: Sequence[Report], verdicts: Sequence[Verdict]) -> tuple[int, int]: ...


# The hub's answer will not change on a resend: settle those items as refused.
_PERMANENT = (InputError, NotFoundError, PermissionDeniedError)


class OutboxSender:
    """Delivers the outbox in order until ``shutdown``; see the module docstring."""

    def __init__(
        self,
        outbox: Outbox,
        sink: ReportSink,
        clock: Clock,
        *,
        batch: int = 500,
        backoff: Backoff | None = None,
        idle_seconds: float = 1.0,
    ) -> None:
        self.outbox, self.sink, self.clock = outbox, sink, clock
        self.batch = batch
        self.backoff = backoff or Backoff(0.5, 30.0)
        self.idle_seconds = idle_seconds
        self.wake = threading.Event()
        self.stop = threading.Event()

    def drain_once(self) -> int:
        """Send one batch; returns how many rows were settled (delivered or refused)."""
        rows = self.outbox.pending(self.batch)
        if rows:
            self._send(rows)
        return len(rows)

    def _send(self, rows: list[tuple[int, Report | Verdict]]) -> None:
        reports = [x for _, x in rows if isinstance(x, Report)]
        verdicts = [x for _, x in rows if isinstance(x, Verdict)]
        seqs = [s for s, _ in rows]
        try:
            new_reports, new_verdicts = self.sink.submit(reports, verdicts)
        except _PERMANENT as e:
            if len(rows) > 1:  # isolate the refused item; deliver the rest
                half = len(rows) // 2
                self._send(rows[:half])
                self._send(rows[half:])
                return
            log.error("hub refused outbox item %d for good: %s", seqs[0], e)
            self.outbox.mark(seqs, now=self.clock.now(), refused=f"{type(e).__name__}: {e}")
            return
        self.outbox.mark(seqs, now=self.clock.now())
        log.info("delivered %d reports (%d new) and %d verdicts (%d new) to the hub",
                 len(reports), new_reports, len(verdicts), new_verdicts)  # fmt: skip

    def run(self) -> None:
        attempt = 0
        while not self.stop.is_set():
            try:
                sent = self.drain_once()
                attempt = 0
            except HashlistError as e:
                delay = self.backoff.delay(attempt)
                attempt += 1
                log.warning("report delivery failed (%s); %d pending; retrying in %.1f s",
                            e, self.outbox.backlog(), delay)  # fmt: skip
                self.stop.wait(delay)
                continue
            if not sent:
                self.wake.wait(self.idle_seconds)
                self.wake.clear()

    def shutdown(self) -> None:
        self.stop.set()
        self.wake.set()
