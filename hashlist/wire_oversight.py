"""Protobuf at the edge, for the operator's oversight (``hashlist.oversight``): paired
``*_to_proto`` / ``*_from_proto``, as ``hashlist.wire`` for the rest.

A review item's reasons travel as their names; an unknown name (a newer hub's) is
dropped by the client, never guessed at.
"""

from __future__ import annotations

from dataclasses import astuple

from hashlist.oversight import (
    ActionRecord,
    CaseDay,
    MatchDay,
    ReviewItem,
    ReviewReason,
    VersionInfo,
)
from hashlist.v1 import hashlist_pb2 as pb

_REASONS = {r.value: r for r in ReviewReason}


def version_to_proto(v: VersionInfo) -> pb.VersionInfo:
    return pb.VersionInfo(version=v.version, published_at=v.published_at, added=v.added,
                          removed=v.removed)  # fmt: skip


def version_from_proto(m: pb.VersionInfo) -> VersionInfo:
    return VersionInfo(m.version, m.published_at, m.added, m.removed)


def review_item_to_proto(i: ReviewItem) -> pb.ReviewItem:
    return pb.ReviewItem(
        list_id=i.list_id, signal=i.signal, reasons=[r.value for r in i.reasons],
        partners=[pb.PartnerCount(partner=p, count=n) for p, n in i.partners],
        removed=i.removed, not_violating=i.not_violating, dissenters=i.dissenters,
        recent_partners=i.recent_partners, last_activity=i.last_activity,
    )  # fmt: skip


def review_item_from_proto(m: pb.ReviewItem) -> ReviewItem:
    return ReviewItem(
        m.list_id, m.signal, tuple(_REASONS[r] for r in m.reasons if r in _REASONS),
        tuple((p.partner, p.count) for p in m.partners), m.removed, m.not_violating,
        m.dissenters, m.recent_partners, m.last_activity,
    )  # fmt: skip


def match_day_to_proto(d: MatchDay) -> pb.MatchDay:
    return pb.MatchDay(day=d.day, list_id=d.list_id, partner=d.partner, matches=d.matches,
                       removed=d.removed, not_violating=d.not_violating)  # fmt: skip


def match_day_from_proto(m: pb.MatchDay) -> MatchDay:
    return MatchDay(m.day, m.list_id, m.partner, m.matches, m.removed, m.not_violating)


def case_day_to_proto(d: CaseDay) -> pb.CaseDay:
    return pb.CaseDay(day=d.day, list_id=d.list_id, opened=d.opened, withdrawn=d.withdrawn,
                      rejected=d.rejected)  # fmt: skip


def case_day_from_proto(m: pb.CaseDay) -> CaseDay:
    return CaseDay(m.day, m.list_id, m.opened, m.withdrawn, m.rejected)


def action_to_proto(a: ActionRecord) -> pb.ActionRecord:
    id_, at, who, action, target, reason, outcome = astuple(a)
    return pb.ActionRecord(id=id_, at=at, who=who, action=action, target=target,
                           reason=reason, outcome=outcome)  # fmt: skip


def action_from_proto(m: pb.ActionRecord) -> ActionRecord:
    return ActionRecord(m.id, m.at, m.who, m.action, m.target, m.reason, m.outcome)
