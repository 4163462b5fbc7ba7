"""What each console page shows, gathered from the hub's operator API and checked:
plain values for the templates, nothing rendered here.

Checkpoints are verified against the configured trust root before anything about
them is shown (``hashlist.checkpoint.verify_checkpoint``: pure, the time passed
in); a checkpoint that does not verify is shown as such, in red, never as fine.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from hashlist.cases import CaseState, CaseView, PolicyMode
from hashlist.checkpoint import verify_checkpoint
from hashlist.client import HubClient
from hashlist.errors import HashlistError
from hashlist.model import Partner
from hashlist.oversight import DAY, CaseDay, MatchDay, ReviewItem
from hashlist.trustroot import TrustRoot
from server.console.config import ConsoleConfig


@dataclass(frozen=True)
class Cosigner:
    name: str
    at: int | None  # None: no valid cosignature on the checkpoint
    problem: str = ""


@dataclass(frozen=True)
class ListView:
    list_id: str
    version: int
    hashes: int
    partners: tuple[str, ...]
    published_at: int  # the latest version's publication (0: not known)
    timestamped_at: int | None  # the hub's own cosignature (renewed while idle)
    witnesses: tuple[Cosigner, ...]
    problem: str = ""  # the checkpoint did not verify: why


def lists(hub: HubClient, trust: TrustRoot) -> list[ListView]:
    out = []
    for status in hub.status():
        history = hub.history(status.list_id, limit=1)
        published = history[0].published_at if history else 0
        try:
            verified = verify_checkpoint(hub.checkpoint(status.list_id), trust,
                                         trust.origin(status.list_id))  # fmt: skip
        except HashlistError as e:
            out.append(ListView(status.list_id, status.size, status.hashes, status.partners,
                                published, None, (), f"the checkpoint does not verify "
                                f"against the trust root: {e}"))  # fmt: skip
            continue
        times = dict(verified.witness_times)
        bad = dict(verified.bad_witnesses)
        witnesses = tuple(
            Cosigner(w.name, times.get(w.name), bad.get(w.name, "")) for w in trust.witness_keys
        )
        out.append(ListView(status.list_id, verified.checkpoint.size, status.hashes,
                            status.partners, published, verified.timestamped_at,
                            witnesses))  # fmt: skip
    return out


@dataclass(frozen=True)
class PartnerRow:
    partner: Partner
    stale: frozenset[str]  # lists whose node is behind and silent for too long
    expiring: frozenset[str]  # certificate serials expired or expiring soon


def partners(hub: HubClient, config: ConsoleConfig, now: int) -> list[PartnerRow]:
    rows = []
    soon = now + config.certificate_warning_days * DAY
    for p in hub.partners():
        stale = frozenset(
            pl.list_id for pl in p.lists
            if pl.lag > 0 and (pl.reported_at == 0 or now - pl.reported_at > config.stale_seconds)
        )  # fmt: skip
        expiring = frozenset(
            c.serial for c in p.certificates if not c.revoked and c.not_after < soon
        )
        rows.append(PartnerRow(p, stale, expiring))
    return rows


@dataclass(frozen=True)
class CasesView:
    queue: list[CaseView]  # received, on lists that wait for review
    waiting: list[CaseView]  # received, on auto lists: the next batch publishes them
    withdrawn: list[CaseView]
    days: list[CaseDay]


def cases(hub: HubClient, days: list[CaseDay]) -> CasesView:
    received, policies = hub.list_cases(state=CaseState.RECEIVED.value, limit=500)
    review = {p.list_id for p in policies if p.mode is PolicyMode.REVIEW}
    withdrawn, _ = hub.list_cases(state=CaseState.WITHDRAWN.value, limit=500)
    return CasesView(
        queue=sorted((c for c in received if c.list_id in review), key=lambda c: c.opened_at),
        waiting=[c for c in received if c.list_id not in review],
        withdrawn=sorted(withdrawn, key=lambda c: -c.opened_at)[:100],
        days=sorted(days, key=lambda d: (-d.day, d.list_id)),
    )


def review(hub: HubClient, config: ConsoleConfig) -> dict[str, list[ReviewItem]]:
    return {
        s.list_id: hub.review(
            s.list_id,
            review_threshold=config.review_threshold,
            flood_partners=config.flood_partners,
            flood_hours=config.flood_hours,
        )
        for s in hub.status()
    }


@dataclass
class Share:
    matches: int = 0
    removed: int = 0
    not_violating: int = 0


@dataclass(frozen=True)
class MatchesView:
    days: list[int]  # every day shown, oldest first
    per_list: dict[str, dict[str, list[int]]]  # list -> partner -> matches per day
    shares: dict[str, dict[str, Share]] = field(default_factory=dict)  # list -> partner -> sums


def matches(rows: list[MatchDay], now: int, days: int) -> MatchesView:
    today = now // DAY * DAY
    axis = [today - DAY * i for i in range(days - 1, -1, -1)]
    index = {d: i for i, d in enumerate(axis)}
    per_list: dict[str, dict[str, list[int]]] = defaultdict(dict)
    shares: dict[str, dict[str, Share]] = defaultdict(dict)
    for r in rows:
        if r.day not in index:
            continue
        series = per_list[r.list_id].setdefault(r.partner, [0] * len(axis))
        series[index[r.day]] += r.matches
        share = shares[r.list_id].setdefault(r.partner, Share())
        share.matches += r.matches
        share.removed += r.removed
        share.not_violating += r.not_violating
    return MatchesView(axis, dict(per_list), dict(shares))
