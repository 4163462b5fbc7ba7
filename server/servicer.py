"""Thin gRPC servicers: identify the caller, translate, delegate to the hub's parts.

Every method is wrapped by ``handle_errors``, so the status a client sees
comes from the one table in ``hashlist/rpc.py``. Every method but ``Subscribe``
is synchronous and runs in the server's worker threads; ``Subscribe`` is a
coroutine, so that thousands of open subscriptions hold no thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc

from hashlist.errors import InputError
from hashlist.identity import Identity
from hashlist.model import PublishResult
from hashlist.rpc import handle_errors, threaded_stream
from hashlist.snapshot import SnapshotHeader
from hashlist.v1 import hashlist_pb2 as pb
from hashlist.v1 import hashlist_pb2_grpc as pb_grpc
from hashlist.vpdq import FrameSet
from hashlist.wire import (
    frame_sets,
    hash_matches_to_proto,
    list_status_to_proto,
    partner_to_proto,
    publish_result_to_proto,
    report_from_proto,
    snapshot_header_to_proto,
    verdict_from_proto,
)
from server.hub import Hub
from server.identify import caller, certificate, identify
from server.oversight_servicer import OversightRpcs
from server.streams import DOWNLOAD, SUBSCRIPTION, StreamSlots

log = logging.getLogger(__name__)


class LogServicer(pb_grpc.LogServicer):
    def __init__(
        self, hub: Hub, *, leaf_batch_bytes: int, snapshot_batch: int, slots: StreamSlots
    ) -> None:
        self.hub = hub
        self.leaf_batch_bytes = leaf_batch_bytes
        self.snapshot_batch = snapshot_batch
        self.slots = slots  # every stream holds one for its life
        self.rpc_errors = hub.metrics.rpc_errors

    @handle_errors
    def GetCheckpoint(
        self, request: pb.GetCheckpointRequest, context: grpc.ServicerContext
    ) -> pb.SignedCheckpoint:
        self.hub.access.authorize_read(caller(context, self.hub.access), request.list_id)
        return pb.SignedCheckpoint(
            list_id=request.list_id, note=self.hub.reader.checkpoint(request.list_id)
        )

    @handle_errors
    def GetTrustRoot(
        self, request: pb.GetTrustRootRequest, context: grpc.ServicerContext
    ) -> pb.SignedTrustRoot:
        caller(
            context, self.hub.access
        )  # any hashlist identity: trust roots are public to the federation
        return pb.SignedTrustRoot(note=self.hub.reader.trust_root(request.version))

    @handle_errors
    def ReportProgress(
        self, request: pb.ProgressRequest, context: grpc.ServicerContext
    ) -> pb.ProgressResponse:
        self.hub.partners.report_progress(
            caller(context, self.hub.access), request.list_id, request.version
        )
        return pb.ProgressResponse()

    @handle_errors
    @threaded_stream
    def GetLeaves(
        self, request: pb.GetLeavesRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.LeafBatch]:
        who = caller(context, self.hub.access)
        self.hub.access.authorize_read(who, request.list_id)
        with self.slots.hold(who, DOWNLOAD):
            batches = self.hub.reader.leaf_batches(
                request.list_id, request.start, request.end, self.leaf_batch_bytes
            )
            for start, leaves in batches:
                self.hub.access.authenticate(who)  # a revoked certificate or grant ends it
                self.hub.access.authorize_read(who, request.list_id)
                yield pb.LeafBatch(start=start, leaves=leaves)

    @handle_errors
    def GetInclusionProof(
        self, request: pb.InclusionProofRequest, context: grpc.ServicerContext
    ) -> pb.Proof:
        self.hub.access.authorize_read(caller(context, self.hub.access), request.list_id)
        return pb.Proof(
            hashes=self.hub.reader.inclusion_proof(
                request.list_id, request.index, request.tree_size
            )
        )

    @handle_errors
    def GetConsistencyProof(
        self, request: pb.ConsistencyProofRequest, context: grpc.ServicerContext
    ) -> pb.Proof:
        self.hub.access.authorize_read(caller(context, self.hub.access), request.list_id)
        return pb.Proof(
            hashes=self.hub.reader.consistency_proof(request.list_id, request.first, request.second)
        )

    @handle_errors
    @threaded_stream
    def GetSnapshot(
        self, request: pb.SnapshotRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.SnapshotChunk]:
        who = caller(context, self.hub.access)
        self.hub.access.authorize_read(who, request.list_id)
        with self.slots.hold(who, DOWNLOAD):
            for item in self.hub.reader.snapshot(
                request.list_id, request.from_size, self.snapshot_batch
            ):
                self.hub.access.authenticate(who)  # a revoked certificate or grant ends it
                self.hub.access.authorize_read(who, request.list_id)
                if isinstance(item, SnapshotHeader):
                    yield pb.SnapshotChunk(header=snapshot_header_to_proto(item))
                else:
                    signals, versions = zip(*item[0], strict=True)
                    batch = pb.SignalBatch(signals=signals, versions=versions, videos=item[1])
                    yield pb.SnapshotChunk(signals=batch)

    @handle_errors
    async def Subscribe(
        self, request: pb.SubscribeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.SignedCheckpoint]:
        # A coroutine on the server's event loop, holding no thread while it waits (see
        # server.serve). Who calls and the cap are answered on the loop (certificates
        # are parsed once, then cached), so a stream over the cap costs no thread; the
        # grants may be read from the database, in the worker threads (the loop's
        # default executor); the checks before each note are in memory.
        who = identify(certificate(context), self.hub.access)
        list_ids = list(request.list_ids)
        if not list_ids:
            raise InputError("subscribe to at least one list")
        with self.slots.hold(who, SUBSCRIPTION):
            await asyncio.get_running_loop().run_in_executor(None, self._authorize, who, list_ids)
            broadcaster = self.hub.broadcaster
            cursor = broadcaster.subscribe(list_ids)
            log.info("%s subscribed to %s", who, ", ".join(list_ids))
            try:
                while not broadcaster.closed:
                    notes = await broadcaster.changes(cursor)
                    self.hub.access.authenticate(who)  # a revoked certificate ends it
                    for list_id, note in notes:
                        self.hub.access.still_reads(who, list_id)  # so does a revoked grant
                        yield pb.SignedCheckpoint(list_id=list_id, note=note)
            finally:
                broadcaster.unsubscribe(cursor)
                log.info("%s unsubscribed", who)

    def _authorize(self, who: Identity, list_ids: list[str]) -> None:
        for list_id in list_ids:
            self.hub.access.authorize_read(who, list_id)


class AdminServicer(OversightRpcs, pb_grpc.AdminServicer):
    def __init__(self, hub: Hub, *, max_publish_hashes: int) -> None:
        self.hub = hub
        self.rpc_errors = hub.metrics.rpc_errors
        self.max_publish_hashes = max_publish_hashes

    @handle_errors
    def CreateList(
        self, request: pb.CreateListRequest, context: grpc.ServicerContext
    ) -> pb.CreateListResponse:
        created = self.hub.trail.run(
            caller(context, self.hub.access), "create list", request.list_id, request.reason,
            lambda: self.hub.publisher.create_list(request.list_id), describe=_changed,
        )  # fmt: skip
        return pb.CreateListResponse(created=created)

    @handle_errors
    def Grant(self, request: pb.GrantRequest, context: grpc.ServicerContext) -> pb.GrantResponse:
        return pb.GrantResponse(changed=self.hub.trail.run(
            caller(context, self.hub.access), "grant", f"{request.list_id} to {request.partner}",
            request.reason, lambda: self.hub.access.set_grant(
                request.list_id, request.partner, True, new_partner=request.new_partner),
            describe=_changed,
        ))  # fmt: skip

    @handle_errors
    def Revoke(self, request: pb.GrantRequest, context: grpc.ServicerContext) -> pb.GrantResponse:
        return pb.GrantResponse(changed=self.hub.trail.run(
            caller(context, self.hub.access), "revoke grant",
            f"{request.list_id} from {request.partner}", request.reason,
            lambda: self.hub.access.set_grant(request.list_id, request.partner, False),
            describe=_changed,
        ))  # fmt: skip

    @handle_errors
    def Publish(
        self, request: pb.PublishRequest, context: grpc.ServicerContext
    ) -> pb.PublishResponse:
        who = caller(context, self.hub.access)
        self.hub.access.authorize_admin(who)
        self._check_size(len(request.additions) + len(request.removals))
        return self._publish(who, request.list_id, list(request.additions),
                             list(request.removals), key=request.idempotency_key,
                             reason=request.reason, videos=frame_sets(request.videos))  # fmt: skip

    def _publish(
        self, who: Identity, list_id: str, additions: list[str], removals: list[str], *,
        key: str, reason: str, videos: list[FrameSet],
    ) -> pb.PublishResponse:  # fmt: skip
        def publish() -> PublishResult:
            with self.hub.metrics.publish_seconds.time():
                return self.hub.publisher.publish(list_id, additions, removals, key, videos)

        what = "retract" if removals and not additions else "publish"
        shown = f"{len(additions):,} additions, {len(removals):,} retractions"
        if len(additions) + len(removals) == 1:
            shown = (additions or removals)[0]
        result = self.hub.trail.run(who, what, f"{list_id}: {shown}", reason, publish,
                                    describe=_published)  # fmt: skip
        return publish_result_to_proto(result)

    def _check_size(self, hashes: int) -> None:
        if hashes > self.max_publish_hashes:
            raise InputError(
                f"a publication carries at most {self.max_publish_hashes:,} hashes: split the input"
            )

    @handle_errors
    def PublishStream(
        self, request_iterator: Iterator[pb.PublishRequest], context: grpc.ServicerContext
    ) -> pb.PublishResponse:
        who = caller(context, self.hub.access)
        self.hub.access.authorize_admin(who)
        first: pb.PublishRequest | None = None
        additions: list[str] = []
        removals: list[str] = []
        videos: list[FrameSet] = []
        for part in request_iterator:
            first = first or part
            if part.list_id not in ("", first.list_id) or part.idempotency_key not in (
                "",
                first.idempotency_key,
            ):
                raise InputError("every part of a publication names the same list and key")
            additions += part.additions
            removals += part.removals
            videos += frame_sets(part.videos)
            self._check_size(len(additions) + len(removals))
        if first is None:
            raise InputError("an empty publication stream")
        return self._publish(who, first.list_id, additions, removals,
                             key=first.idempotency_key, reason=first.reason,
                             videos=videos)  # fmt: skip

    @handle_errors
    def Status(self, request: pb.StatusRequest, context: grpc.ServicerContext) -> pb.StatusResponse:
        self.hub.access.authorize_admin(caller(context, self.hub.access))
        return pb.StatusResponse(lists=[list_status_to_proto(s) for s in self.hub.reader.status()])

    @handle_errors
    def RevokeCertificate(
        self, request: pb.RevokeCertificateRequest, context: grpc.ServicerContext
    ) -> pb.RevokeCertificateResponse:
        revoked = self.hub.trail.run(
            caller(context, self.hub.access), "revoke certificate", request.serial,
            request.reason, lambda: self.hub.access.revoke_certificate(request.serial),
            describe=lambda done: "revoked" if done else "was revoked already",
        )  # fmt: skip
        return pb.RevokeCertificateResponse(revoked=revoked)

    @handle_errors
    def Partners(
        self, request: pb.PartnersRequest, context: grpc.ServicerContext
    ) -> pb.PartnersResponse:
        self.hub.access.authorize_admin(caller(context, self.hub.access))
        return pb.PartnersResponse(
            partners=[partner_to_proto(p) for p in self.hub.partners.partners()]
        )

    @handle_errors
    def Matches(
        self, request: pb.MatchesRequest, context: grpc.ServicerContext
    ) -> pb.MatchesResponse:
        self.hub.access.authorize_admin(caller(context, self.hub.access))
        found, token = self.hub.reports.matches(
            request.list_id, request.review_threshold, request.page_size, request.page_token
        )
        return pb.MatchesResponse(
            hashes=[hash_matches_to_proto(h) for h in found], next_page_token=token
        )


def _changed(changed: bool) -> str:
    return "changed" if changed else "no change (it was so already)"


def _published(r: PublishResult) -> str:
    if r.replayed:
        return f"already published as version {r.version} (a retry)"
    return f"version {r.version}: {r.added:,} added, {r.removed:,} retracted"


class ReportsServicer(pb_grpc.ReportsServicer):
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.rpc_errors = hub.metrics.rpc_errors

    @handle_errors
    def Submit(self, request: pb.SubmitRequest, context: grpc.ServicerContext) -> pb.SubmitResponse:
        new_reports, new_verdicts = self.hub.reports.submit(
            caller(context, self.hub.access),
            [report_from_proto(r) for r in request.reports],
            [verdict_from_proto(v) for v in request.verdicts],
        )
        return pb.SubmitResponse(new_reports=new_reports, new_verdicts=new_verdicts)
