"""The hub's record of match reports and verdicts, and the operator's view of them.

Reports and verdicts arrive from nodes at least once; their ids are unique
in the store, so a resent one is ignored and each is recorded exactly once.
The reporting partner is taken from the client certificate, never from the
message, and a verdict counts only when the same partner made the report.

``matches(list_id)`` answers, per listed hash: matches per partner, and the
latest verdict of each report counted as ``removed`` or ``not_violating``;
a hash with at least ``review_threshold`` not-violating verdicts is flagged
for the operator to review (and perhaps retract).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from hashlist.clock import Clock
from hashlist.delta import validate_list_id
from hashlist.errors import InputError
from hashlist.identity import Identity
from hashlist.model import VERDICTS, HashMatches, Report, Verdict
from hashlist.signals import canonical
from server.access import Access
from server.store import HubStore

log = logging.getLogger(__name__)
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
    def __init__(self, *, store: HubStore, access: Access, clock: Clock) -> None:
        self.store, self.access, self.clock = store, access, clock

    def submit(
        self, who: Identity, reports: Sequence[Report], verdicts: Sequence[Verdict]
    ) -> tuple[int, int]:
        """A partner's reports (on lists it is granted) and verdicts, in one transaction;
        returns how many of each were new."""
        self.access.authorize_report(who)
        if len(reports) + len(verdicts) > MAX_BATCH:
            raise InputError(f"at most {MAX_BATCH} reports and verdicts per batch")
        for r in reports:
            validate_report(r)
        for v in verdicts:
            validate_verdict(v)
        for list_id in {r.list_id for r in reports}:
            self.access.authorize_read(who, list_id)
        new = self.store.add_reports(who.name, reports, verdicts, self.clock.now())
        if any(new):
            log.info("%s reported %d new matches and %d new verdicts", who, *new)
        return new

    def matches(self, list_id: str, review_threshold: int) -> list[HashMatches]:
        self.access.list_row(list_id)
        threshold = review_threshold or DEFAULT_REVIEW_THRESHOLD
        counts = self.store.report_counts(list_id)
        partners: dict[str, list[tuple[str, int]]] = {}
        for signal, partner, n in counts.per_partner:
            partners.setdefault(signal, []).append((partner, n))
        decided = {(s, v): n for s, v, n in counts.verdicts}
        out = []
        for signal, who in partners.items():
            removed = decided.get((signal, "removed"), 0)
            not_violating = decided.get((signal, "not_violating"), 0)
            out.append(HashMatches(signal, tuple(who), removed, not_violating,
                                   not_violating >= threshold))  # fmt: skip
        return sorted(out, key=lambda h: (not h.review, -sum(n for _, n in h.partners), h.signal))
