"""What the operator oversees: the audit trail of their actions, a list's history, the
review queue and activity over time. Plain values, shared by the hub, its client and
the console; nothing here reads a clock, a database or the network.

Invariants:

* A reason is at most ``MAX_REASON`` characters of printable text (no control
  characters: it is shown in a browser and a terminal as written).
* An action's ``outcome`` is ``started`` until the hub finishes it, then
  ``done: ...`` or ``failed: ...``: a row still ``started`` after the hub stopped
  says truthfully that nobody knows whether it took effect.
* A review item is on the queue for at least one ``ReviewReason``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hashlist.errors import InputError

MAX_REASON = 500
DAY = 86_400
MAX_ACTIVITY_DAYS = 366
DEFAULT_FLOOD_PARTNERS = 3
DEFAULT_FLOOD_HOURS = 6
"""Many platforms matching one hash within hours is what a poisoned list looks like:
a real image spreads over days, a planted hash of a popular image is everywhere at once."""
STARTED = "started"


def validate_reason(reason: str, *, required: bool = False) -> str:
    """``reason`` unchanged (stripped) if acceptable, else ``InputError`` saying why."""
    reason = reason.strip()
    if required and not reason:
        raise InputError("say why: a reason is required for this action")
    if len(reason) > MAX_REASON:
        raise InputError(f"a reason is at most {MAX_REASON} characters, not {len(reason):,}")
    if any(not ch.isprintable() for ch in reason):
        raise InputError("a reason is one line of printable text (no control characters)")
    return reason


@dataclass(frozen=True)
class ActionRecord:
    """One operator action: who (the certificate's name), what, on what, why, when."""

    id: int
    at: int
    who: str
    action: str
    target: str
    reason: str
    outcome: str  # "started", then "done: ..." or "failed: ..."


@dataclass(frozen=True)
class VersionInfo:
    """One version of a list: when it was published (0: before the hub kept the time)
    and how many hashes it added and retracted."""

    version: int
    published_at: int
    added: int
    removed: int


class ReviewReason(enum.Enum):
    DISSENT = "dissent"  # enough partners found it not violating
    FLOOD = "flood"  # many partners matched it within hours


@dataclass(frozen=True)
class ReviewItem:
    """A listed hash the operator should look at, with the partners' reports on it."""

    list_id: str
    signal: str
    reasons: tuple[ReviewReason, ...]
    partners: tuple[tuple[str, int], ...]  # (partner, matches), by partner
    removed: int  # reports whose latest verdict is removed
    not_violating: int
    dissenters: int  # distinct partners who found it not violating
    recent_partners: int  # distinct partners who matched it in the flood window
    last_activity: int  # the last report or verdict received on it


@dataclass(frozen=True)
class MatchDay:
    """Matches one partner reported on one list on one day (UTC), with the reports
    whose latest verdict is removed or not violating."""

    day: int  # unix seconds at 00:00 UTC
    list_id: str
    partner: str
    matches: int
    removed: int
    not_violating: int


@dataclass(frozen=True)
class CaseDay:
    """Cases of one list opened, withdrawn and rejected on one day (UTC)."""

    day: int
    list_id: str
    opened: int
    withdrawn: int
    rejected: int
