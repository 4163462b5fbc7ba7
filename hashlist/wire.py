"""Protobuf at the edge: paired ``*_to_proto`` / ``*_from_proto`` for domain types.

Servicers and clients call these and nothing else touches a ``_pb2`` type.
Verified material (signed notes, leaves) passes through as the exact bytes.
"""

from __future__ import annotations

from hashlist.api import ListStatus, PublishResult
from hashlist.snapshot import SnapshotHeader
from hashlist.v1 import hashlist_pb2 as pb


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
    )  # fmt: skip


def publish_result_from_proto(m: pb.PublishResponse) -> PublishResult:
    return PublishResult(
        m.version, m.added, m.removed, tuple(m.already_listed), tuple(m.not_listed),
        m.checkpoint_note, m.replayed,
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
