"""The node's durable outbox of match reports and verdicts, and its sender.

A report is written to the outbox (``node.store.OutboxStore``: its own SQLite
file beside the replica) before the check that found it answers, with an id chosen
here; the ``OutboxSender`` delivers pending rows to the hub in ``seq`` order,
in batches, and marks them delivered only after the hub acknowledged them.
The hub de-duplicates by id, so a batch resent after a crash or a lost answer is
harmless: delivery is at least once, the hub's record exactly once.

The platform's content id never leaves this module unhashed: only
HMAC-SHA256 under a node-local secret (kept in the outbox file) is stored or sent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import secrets
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from hashlist.clock import Clock
from hashlist.errors import (
    HashlistError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from hashlist.model import VERDICTS, Report, Verdict
from hashlist.retry import Backoff
from node.store import OutboxStore, SqliteOutboxStore

log = logging.getLogger(__name__)


def new_id() -> str:
    return uuid.uuid4().hex


class Outbox:
    """The node's outbox: reports and verdicts waiting for the hub; safe to share between threads.

    ``store`` defaults to the SQLite outbox file at ``path`` (which imports, once,
    the outbox a first-release node kept in its replica ``legacy``).
    """

    def __init__(
        self, path: Path, store: OutboxStore | None = None, *, legacy: Path | None = None
    ) -> None:
        self.store: OutboxStore = store or SqliteOutboxStore(path, legacy=legacy)
        self._secret = self.store.secret(secrets.token_bytes(32))
        self._lock = threading.Lock()

    def close(self) -> None:
        self.store.close()

    def content_key(self, content_id: str) -> str:
        """The keyed hash that stands for ``content_id`` everywhere outside the platform."""
        if not content_id:
            return ""
        return hmac.new(self._secret, content_id.encode(), hashlib.sha256).hexdigest()

    def add_reports(self, reports: Sequence[Report], now: int) -> list[Report]:
        """File ``reports``; returns them as filed. One content (by its keyed id) matching
        one listed hash is reported once: a repeat returns the earlier report, unchanged."""
        filed, rows = [], []
        new: dict[str, str] = {}  # match key -> report id, filed by this call (a batch)
        with self._lock:  # the look-up and the insert of one match key, together
            for r in reports:
                key = self._match_key(r)
                earlier = (new.get(key) or self.store.report_for(key)) if key else None
                if earlier is not None:
                    filed.append(dataclasses.replace(r, report_id=earlier))
                    continue
                if key:
                    new[key] = r.report_id
                rows.append((r.report_id, "report", _body(r), now, key))
                filed.append(r)
            if rows:
                self.store.add(rows)
        return filed

    def _match_key(self, r: Report) -> str | None:
        if not r.content_key:
            return None  # without a content id, two checks may be two uploads
        return hmac.new(self._secret, f"{r.content_key}|{r.list_id}|{r.signal}".encode(),
                        hashlib.sha256).hexdigest()  # fmt: skip

    def add_verdict(self, report_id: str, verdict: str, now: int) -> Verdict:
        if verdict not in VERDICTS:
            raise InputError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
        if not self.store.has_report(report_id):
            raise NotFoundError(f"no match with report id {report_id!r} on this node")
        v = Verdict(new_id(), report_id, verdict, now)
        self.store.add([(v.verdict_id, "verdict", _body(v), now, None)])
        return v

    def pending(self, limit: int) -> list[tuple[int, Report | Verdict]]:
        return [(seq, _parse(kind, body)) for seq, kind, body in self.store.pending(limit)]

    def mark(self, seqs: Sequence[int], *, now: int, refused: str = "") -> None:
        self.store.mark(seqs, now=now, refused=refused)

    def backlog(self) -> int:
        return self.store.backlog()


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
            except Exception as e:  # delivery must outlive any failure, a bug included
                delay = self.backoff.delay(attempt)
                attempt += 1
                if not isinstance(e, HashlistError):
                    log.exception("report delivery failed unexpectedly")
                log.warning("report delivery failed (%s); retrying in %.1f s", e, delay)
                self.stop.wait(delay)
                continue
            if not sent:
                self.wake.wait(self.idle_seconds)
                self.wake.clear()

    def shutdown(self) -> None:
        self.stop.set()
        self.wake.set()
