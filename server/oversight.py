"""The operator's oversight of the exchange: a list's history, the review queue, and
matches and cases per day. Read-only apart from dismissing a review item; every
call is the operator's only.

The review queue holds listed hashes the operator should look at, for either
reason (``hashlist.oversight.ReviewReason``):

* *dissent*: at least ``review_threshold`` distinct partners' latest verdict on
  their reports is ``not_violating`` (one partner alone cannot get a hash
  flagged, however many reports it files), as ``ReportBook.matches`` flags;
* *flood*: at least ``flood_partners`` distinct partners matched it within the
  last ``flood_hours``: many platforms matching one hash at once is what a
  poisoned list looks like.

A dismissed item stays off the queue until a report or verdict on it arrives
after the dismissal. A retracted hash leaves the queue (only listed hashes are
on it). The queue is bounded: at most ``MAX_REVIEW`` items per reason.
"""

from __future__ import annotations

from hashlist.clock import Clock
from hashlist.errors import InputError
from hashlist.identity import Identity
from hashlist.oversight import (
    DAY,
    DEFAULT_FLOOD_HOURS,
    DEFAULT_FLOOD_PARTNERS,
    MAX_ACTIVITY_DAYS,
    CaseDay,
    MatchDay,
    ReviewItem,
    ReviewReason,
    VersionInfo,
)
from hashlist.signals import parse_signal
from server.access import Access
from server.reports import DEFAULT_REVIEW_THRESHOLD
from server.store import HubStore

MAX_REVIEW = 200
MAX_HISTORY_PAGE = 500


class Oversight:
    def __init__(self, *, store: HubStore, access: Access, clock: Clock) -> None:
        self.store, self.access, self.clock = store, access, clock

    def history(
        self, who: Identity, list_id: str, before: int = 0, limit: int = 50
    ) -> list[VersionInfo]:
        self.access.authorize_admin(who)
        self.access.list_row(list_id)
        return self.store.history(list_id, before, min(max(limit, 1), MAX_HISTORY_PAGE))

    def review(
        self, who: Identity, list_id: str, *, review_threshold: int = 0,
        flood_partners: int = 0, flood_hours: int = 0,
    ) -> list[ReviewItem]:  # fmt: skip
        self.access.authorize_admin(who)
        self.access.list_row(list_id)
        threshold = review_threshold or DEFAULT_REVIEW_THRESHOLD
        partners = flood_partners or DEFAULT_FLOOD_PARTNERS
        hours = flood_hours or DEFAULT_FLOOD_HOURS
        if not 1 <= hours <= 24 * 30:
            raise InputError("flood_hours is 1 to 720 (30 days)")
        since = self.clock.now() - hours * 3600
        dissent, flood = self.store.review_candidates(
            list_id, dissenters=threshold, since=since, partners=partners, limit=MAX_REVIEW
        )
        dismissed = self.store.review_dismissals(list_id)
        items = []
        for d in self.store.review_details(list_id, sorted(set(dissent) | set(flood)), since):
            if d.last_activity <= dismissed.get(d.signal, -1):
                continue  # dismissed, and nothing new since
            reasons = tuple(
                r for r, on in ((ReviewReason.DISSENT, d.signal in dissent),
                                (ReviewReason.FLOOD, d.signal in flood)) if on
            )  # fmt: skip
            items.append(ReviewItem(
                list_id, d.signal, reasons, d.partners, d.removed, d.not_violating,
                d.dissenters, d.recent_partners, d.last_activity,
            ))  # fmt: skip
        return items

    def dismiss(self, list_id: str, signal: str) -> str:
        """Take a listed hash off the review queue until something new arrives on it."""
        self.access.list_row(list_id)
        signal = parse_signal(signal).text
        if not self.store.listed(list_id, [signal]):
            raise InputError(f"{signal[:40]}... is not listed on {list_id}: nothing to dismiss")
        self.store.dismiss_review(list_id, signal, self.clock.now())
        return "dismissed until a new report or verdict"

    def activity(self, who: Identity, days: int) -> tuple[list[MatchDay], list[CaseDay]]:
        """Matches per list, partner and day, and cases per list and day, for the last
        ``days`` days (today included)."""
        self.access.authorize_admin(who)
        if not 1 <= days <= MAX_ACTIVITY_DAYS:
            raise InputError(f"days is 1 to {MAX_ACTIVITY_DAYS}")
        since = (self.clock.now() // DAY - days + 1) * DAY
        return self.store.match_days(since), self.store.case_days(since)
