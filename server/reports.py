"""The hub's record of match reports and verdicts, and the operator's view of them.

Reports and verdicts arrive from nodes at least once; their ids are unique
in the store, so a resent one is ignored and each is recorded exactly once.
The reporting partner is taken from the client certificate, never from the
message, and a verdict counts only when the same partner made the report.

``matches(list_id)`` answers, per listed hash: matches per partner, and the
latest verdict of each report counted as ``removed`` or ``not_violating``.
A hash is flagged for the operator to review (and perhaps retract) when at
least ``review_threshold`` *distinct partners* found it not violating: one
partner alone, however many reports it files, cannot get a hash flagged.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence

from hashlist.clock import Clock
from hashlist.delta import validate_list_id
from hashlist.errors import InputError, InvalidSignalError, ResourceExhaustedError
from hashlist.identity import Identity
from hashlist.model import VERDICTS, HashMatches, Report, Verdict
from hashlist.signals import canonical
from hashlist.vpdq import MAX_FRAMES
from server.access import Access
from server.metrics import HubMetrics
from server.ratelimit import TokenBuckets
from server.store import HubStore

log = logging.getLogger(__name__)
_ID = re.compile(r"[0-9a-f]{32}")
_KEY = re.compile(r"(?:[0-9a-f]{64})?")
MAX_BATCH = 5000
DEFAULT_PAGE = 1000  # hashes per page of matches: well within the message limit
MAX_PAGE = 5000
DEFAULT_REVIEW_THRESHOLD = 2
EARLIEST = 1_577_836_800  # 2020-01-01: no node matched anything before hashlist existed
CLOCK_SKEW = 300  # a node's clock may run this far ahead of the hub's


def validate_report(r: Report, now: int) -> None:
    """Everything checkable from the report alone; the caller checks it against the list."""
    if not _ID.fullmatch(r.report_id):
        raise InputError(f"report id {r.report_id[:40]!r} is not 32 lowercase hex digits")
    validate_list_id(r.list_id)
    if canonical(r.signal) != r.signal:
        raise InputError(f"report {r.report_id}: signal is not in canonical kind:hex form")
    if not _KEY.fullmatch(r.content_key):
        raise InputError(f"report {r.report_id}: content_key must be an HMAC-SHA256 hex or empty")
    # A video's distance is how many of its listed frames went unmatched.
    most = MAX_FRAMES if r.signal.startswith("vpdq:") else 256
    if not 0 <= r.distance <= most:
        raise InputError(f"report {r.report_id}: distance {r.distance} is not in 0..{most}")
    if not 1 <= r.version < 2**63:
        raise InputError(f"report {r.report_id}: version {r.version} is out of range")
    _plausible(r.matched_at, now, f"report {r.report_id}: matched_at")


def validate_verdict(v: Verdict, now: int) -> None:
    if not _ID.fullmatch(v.verdict_id) or not _ID.fullmatch(v.report_id):
        raise InputError("verdict and report ids are 32 lowercase hex digits")
    if v.verdict not in VERDICTS:
        raise InputError(f"verdict must be one of {', '.join(VERDICTS)}, got {v.verdict[:40]!r}")
    _plausible(v.decided_at, now, f"verdict {v.verdict_id}: decided_at")


def _plausible(when: int, now: int, what: str) -> None:
    if not EARLIEST <= when <= now + CLOCK_SKEW:
        raise InputError(f"{what} {when} is not a plausible time (the hub's clock says {now})")


class ReportBook:
    def __init__(
        self, *, store: HubStore, access: Access, clock: Clock,
        limit: TokenBuckets | None = None, metrics: HubMetrics | None = None,
    ) -> None:  # fmt: skip
        self.store, self.access, self.clock = store, access, clock
        self.limit = limit or TokenBuckets(rate=1000.0, burst=10_000)
        self.metrics = metrics or HubMetrics()

    def submit(
        self, who: Identity, reports: Sequence[Report], verdicts: Sequence[Verdict]
    ) -> tuple[int, int]:
        """A partner's reports (on lists it is granted) and verdicts, in one transaction;
        returns how many of each were new."""
        self.access.authorize_report(who)
        if len(reports) + len(verdicts) > MAX_BATCH:
            raise InputError(f"at most {MAX_BATCH} reports and verdicts per batch")
        if not self.limit.take(who.name, len(reports) + len(verdicts)):
            raise ResourceExhaustedError(
                f"{who} sends reports and verdicts faster than {self.limit.rate:g}/s: "
                "slow down and send again"
            )
        now = self.clock.now()
        for r in reports:
            validate_report(r, now)
        for v in verdicts:
            validate_verdict(v, now)
        for list_id in sorted({r.list_id for r in reports}):
            self.access.authorize_read(who, list_id)
            self._check_listed(list_id, [r for r in reports if r.list_id == list_id])
        self._check_reported(who, reports, verdicts)
        new = self.store.add_reports(who.name, reports, verdicts, now)
        for list_id, n in Counter(r.list_id for r in reports).items():
            self.metrics.reports.labels(list_id, who.name).inc(n)
        if any(new):
            log.info("%s reported %d new matches and %d new verdicts", who, *new)
        return new

    def _check_listed(self, list_id: str, reports: Sequence[Report]) -> None:
        """Each report names a version the list has reached and a hash it ever listed."""
        size = self.access.list_row(list_id).size
        ever = self.store.ever_listed(list_id, sorted({r.signal for r in reports}))
        for r in reports:
            if r.version > size:
                raise InputError(f"report {r.report_id}: version {r.version} is beyond "
                                 f"{list_id}'s {size}")  # fmt: skip
            if r.signal not in ever:
                raise InputError(
                    f"report {r.report_id}: {r.signal[:40]}... was never on list {list_id}"
                )

    def _check_reported(
        self, who: Identity, reports: Sequence[Report], verdicts: Sequence[Verdict]
    ) -> None:
        """A verdict is on a report of the same partner (in this batch or earlier)."""
        here = {r.report_id for r in reports}
        asked = sorted({v.report_id for v in verdicts} - here)
        known = here | self.store.reports_of(who.name, asked)
        for v in verdicts:
            if v.report_id not in known:
                raise InputError(f"verdict {v.verdict_id}: {who.name} made no report {v.report_id}")

    def matches(
        self, list_id: str, review_threshold: int, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[HashMatches], str]:
        """One page of reported hashes, ordered by signal, and the next page's token
        (empty after the last): an answer stays within the message limit however
        many reports there are."""
        self.access.list_row(list_id)
        if page_token and not _is_signal(page_token):
            raise InputError("page_token is not one the hub gave: start again without it")
        size = min(page_size or DEFAULT_PAGE, MAX_PAGE)
        threshold = review_threshold or DEFAULT_REVIEW_THRESHOLD
        counts = self.store.report_counts(list_id, page_token, size)
        partners: dict[str, list[tuple[str, int]]] = {}
        for signal, partner, n in counts.per_partner:
            partners.setdefault(signal, []).append((partner, n))
        decided = {(s, v): n for s, v, n in counts.verdicts}
        dissent = dict(counts.dissenters)
        page = []
        for signal, who in partners.items():
            removed = decided.get((signal, "removed"), 0)
            not_violating = decided.get((signal, "not_violating"), 0)
            page.append(HashMatches(signal, tuple(who), removed, not_violating,
                                    dissent.get(signal, 0) >= threshold))  # fmt: skip
        page.sort(key=lambda h: h.signal)
        return page, page[-1].signal if len(page) == size else ""

    def purge(
        self, retention_seconds: int, *, batch: int = 10_000,
        stopping: Callable[[], bool] = lambda: False,
    ) -> tuple[int, int]:  # fmt: skip
        """Delete reports and verdicts received more than ``retention_seconds`` ago, a
        batch per transaction (publishing waits for one batch at most), until done or
        ``stopping()``."""
        before = self.clock.now() - retention_seconds
        total = [0, 0]
        while not stopping():
            reports, verdicts = self.store.purge_reports(before, batch)
            total[0] += reports
            total[1] += verdicts
            if reports < batch and verdicts < batch:
                break
        if any(total):
            log.info("purged %d reports and %d verdicts received over %d days ago",
                     total[0], total[1], retention_seconds // 86_400)  # fmt: skip
        return total[0], total[1]


def _is_signal(text: str) -> bool:
    try:
        return canonical(text) == text
    except InvalidSignalError:
        return False
