"""Protobuf at the edge: paired ``*_to_proto`` / ``*_from_proto`` for domain types.

Servicers and clients call these and nothing else touches a ``_pb2`` type.
Verified material (signed notes, leaves) passes through as the exact bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

from hashlist.cases import (
    DEFAULT_BATCH_SECONDS,
    DEFAULT_MAX_SIGNALS,
    CasePolicy,
    CaseState,
    CaseView,
    PolicyMode,
)
from hashlist.errors import InputError
from hashlist.model import (
    CertificateSeen,
    CheckQuery,
    CheckResult,
    HashMatches,
    ItemError,
    ListStatus,
    Match,
    Partner,
    PartnerList,
    PublishResult,
    Report,
    Verdict,
)
from hashlist.snapshot import SnapshotHeader
from hashlist.v1 import hashlist_pb2 as pb
from hashlist.vpdq import MAX_FRAMES, FrameSet, VpdqFrame, parse_frame_text


def snapshot_header_to_proto(h: SnapshotHeader) -> pb.SnapshotHeader:
    return pb.SnapshotHeader(
        note=h.note,
        compact_range=list(h.compact_range),
        last_leaf=h.last_leaf,
        last_leaf_proof=list(h.last_leaf_proof),
        consistency_proof=list(h.consistency_proof),
        count=h.count,
    )


def snapshot_header_from_proto(m: pb.SnapshotHeader) -> SnapshotHeader:
    return SnapshotHeader(
        note=m.note,
        compact_range=tuple(m.compact_range),
        last_leaf=m.last_leaf,
        last_leaf_proof=tuple(m.last_leaf_proof),
        consistency_proof=tuple(m.consistency_proof),
        count=m.count,
    )


def publish_result_to_proto(r: PublishResult) -> pb.PublishResponse:
    return pb.PublishResponse(
        version=r.version, added=r.added, removed=r.removed, already_listed=r.already_listed,
        not_listed=r.not_listed, checkpoint_note=r.checkpoint_note, replayed=r.replayed,
        first_version=r.first_version, already_listed_count=r.already_listed_count,
        not_listed_count=r.not_listed_count,
    )  # fmt: skip


def publish_result_from_proto(m: pb.PublishResponse) -> PublishResult:
    return PublishResult(
        m.version, m.added, m.removed, tuple(m.already_listed), tuple(m.not_listed),
        m.checkpoint_note, m.replayed, m.first_version, m.already_listed_count,
        m.not_listed_count,
    )  # fmt: skip


def list_status_to_proto(s: ListStatus) -> pb.ListStatus:
    return pb.ListStatus(
        list_id=s.list_id, size=s.size, hashes=s.hashes, root=s.root,
        state_digest=s.state_digest, cosigned_at=s.cosigned_at, partners=s.partners,
    )  # fmt: skip


def list_status_from_proto(m: pb.ListStatus) -> ListStatus:
    return ListStatus(
        m.list_id, m.size, m.hashes, m.root, m.state_digest, m.cosigned_at, tuple(m.partners)
    )


def report_to_proto(r: Report) -> pb.Report:
    return pb.Report(
        report_id=r.report_id, list_id=r.list_id, signal=r.signal, distance=r.distance,
        version=r.version, content_key=r.content_key, matched_at=r.matched_at,
    )  # fmt: skip


def report_from_proto(m: pb.Report) -> Report:
    return Report(
        m.report_id, m.list_id, m.signal, m.distance, m.version, m.content_key, m.matched_at
    )


def verdict_to_proto(v: Verdict) -> pb.Verdict:
    return pb.Verdict(
        verdict_id=v.verdict_id, report_id=v.report_id, verdict=v.verdict, decided_at=v.decided_at
    )


def verdict_from_proto(m: pb.Verdict) -> Verdict:
    return Verdict(m.verdict_id, m.report_id, m.verdict, m.decided_at)


def hash_matches_to_proto(h: HashMatches) -> pb.HashMatches:
    return pb.HashMatches(
        signal=h.signal,
        partners=[pb.PartnerMatches(partner=p, matches=n) for p, n in h.partners],
        removed=h.removed, not_violating=h.not_violating, review=h.review,
    )  # fmt: skip


def hash_matches_from_proto(m: pb.HashMatches) -> HashMatches:
    return HashMatches(
        m.signal, tuple((p.partner, p.matches) for p in m.partners),
        m.removed, m.not_violating, m.review,
    )  # fmt: skip


def check_result_to_proto(r: CheckResult) -> pb.CheckResponse:
    return pb.CheckResponse(
        matches=[
            pb.Match(
                list_id=m.list_id,
                signal=m.signal,
                query_signal=m.query_signal,
                distance=m.distance,
                version=m.version,
                report_id=m.report_id,
                query_match_percent=m.query_match_percent,
                target_match_percent=m.target_match_percent,
            )
            for m in r.matches
        ],
        signals=r.signals,
        notes=r.notes,
    )


def check_result_from_proto(m: pb.CheckResponse) -> CheckResult:
    return CheckResult(
        tuple(
            Match(
                x.list_id,
                x.signal,
                x.query_signal,
                x.distance,
                x.version,
                x.report_id,
                x.query_match_percent,
                x.target_match_percent,
            )
            for x in m.matches
        ),
        tuple(m.signals),
        tuple(m.notes),
    )


def check_query_to_proto(q: CheckQuery) -> pb.CheckRequest:
    return pb.CheckRequest(
        content=q.content or b"", signals=q.signals, pdq_quality=q.pdq_quality,
        content_id=q.content_id, report=q.report,
        vpdq=[pb.VideoFrame(frame=f.frame, quality=f.quality, pdq=f.pdq, timestamp=f.timestamp)
              for f in q.vpdq],
    )  # fmt: skip


def check_query_from_proto(m: pb.CheckRequest) -> CheckQuery:
    return CheckQuery(
        content=m.content if m.content else None,
        signals=tuple(m.signals),
        pdq_quality=m.pdq_quality if m.HasField("pdq_quality") else None,
        content_id=m.content_id,
        report=m.report if m.HasField("report") else True,
        vpdq=tuple(VpdqFrame.from_json([f.frame, f.quality, f.pdq, f.timestamp]) for f in m.vpdq),
    )


def frame_sets(texts: Sequence[bytes]) -> list[FrameSet]:
    """Frame sets sent as canonical text, or ``InputError`` naming the first bad one."""
    out = []
    for i, text in enumerate(texts):
        frames = parse_frame_text(text)
        if frames is None:
            raise InputError(
                f"video frame set {i + 1} is not canonical: 1 to {MAX_FRAMES} distinct PDQ "
                "hashes in lowercase hex, ascending, joined by ','"
            )
        out.append(frames)
    return out


def batch_answer_to_proto(index: int, answer: CheckResult | ItemError) -> pb.CheckBatchAnswer:
    if isinstance(answer, ItemError):
        error = pb.ItemError(code=answer.code, message=answer.message)
        return pb.CheckBatchAnswer(index=index, error=error)
    return pb.CheckBatchAnswer(index=index, result=check_result_to_proto(answer))


def batch_answer_from_proto(m: pb.CheckBatchAnswer) -> tuple[int, CheckResult | ItemError]:
    if m.WhichOneof("answer") == "error":
        return m.index, ItemError(m.error.code, m.error.message)
    return m.index, check_result_from_proto(m.result)


def partner_to_proto(p: Partner) -> pb.Partner:
    return pb.Partner(
        name=p.name,
        certificates=[pb.CertificateSeen(serial=c.serial, not_after=c.not_after,
                                         revoked=c.revoked, last_seen=c.last_seen)
                      for c in p.certificates],
        lists=[pb.PartnerList(list_id=x.list_id, version=x.version, lag=x.lag,
                              reported_at=x.reported_at) for x in p.lists],
        last_seen=p.last_seen,
    )  # fmt: skip


def partner_from_proto(m: pb.Partner) -> Partner:
    return Partner(
        m.name,
        tuple(CertificateSeen(c.serial, c.not_after, c.revoked, c.last_seen)
              for c in m.certificates),
        tuple(PartnerList(x.list_id, x.version, x.lag, x.reported_at) for x in m.lists),
        m.last_seen,
    )  # fmt: skip


def case_view_to_proto(v: CaseView) -> pb.CaseStatus:
    return pb.CaseStatus(number=v.number, list_id=v.list_id, state=v.state.value,
                         signals=v.signals, opened_at=v.opened_at, version=v.version,
                         withdrawn_version=v.withdrawn_version)  # fmt: skip


def case_view_from_proto(m: pb.CaseStatus) -> CaseView:
    try:
        state = CaseState(m.state)
    except ValueError as e:
        raise InputError(f"unknown case state {m.state[:40]!r}") from e
    return CaseView(m.number, m.list_id, state, m.signals, m.opened_at, m.version,
                    m.withdrawn_version)  # fmt: skip


def case_policy_to_proto(p: CasePolicy) -> pb.CasePolicy:
    return pb.CasePolicy(list_id=p.list_id, mode=p.mode.value, batch_seconds=p.batch_seconds,
                         max_signals=p.max_signals)  # fmt: skip


def case_policy_from_proto(m: pb.CasePolicy) -> CasePolicy:
    """A policy as sent; zero counts take the documented defaults."""
    try:
        mode = PolicyMode(m.mode)
    except ValueError as e:
        raise InputError(f"a case policy's mode is auto or review, not {m.mode[:40]!r}") from e
    return CasePolicy(m.list_id, mode, m.batch_seconds or DEFAULT_BATCH_SECONDS,
                      m.max_signals or DEFAULT_MAX_SIGNALS)  # fmt: skip
