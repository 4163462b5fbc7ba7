"""The hub client: every call has a deadline, idempotent calls retry with backoff.

Used by the operator's CLI, the node and (later) auditors. Failed calls raise
the typed errors of ``hashlist.errors`` (via ``rpc.error_from_rpc``), never a
raw ``grpc.RpcError``. Publishing always carries an idempotency key (a random
one if the caller gives none), so a retried publish never makes two versions.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc

from hashlist.cases import CasePolicy, CaseView
from hashlist.client_oversight import OversightCalls
from hashlist.errors import NotFoundError, UnavailableError
from hashlist.model import HashMatches, ListStatus, Partner, PublishResult, Report, Verdict
from hashlist.retry import Backoff
from hashlist.rpc import RETRYABLE, channel_options, client_credentials, error_from_rpc
from hashlist.snapshot import SnapshotHeader
from hashlist.v1 import hashlist_pb2 as pb
from hashlist.v1 import hashlist_pb2_grpc as pb_grpc
from hashlist.vpdq import FrameSet
from hashlist.wire import (
    case_policy_from_proto,
    case_policy_to_proto,
    case_view_from_proto,
    hash_matches_from_proto,
    list_status_from_proto,
    partner_from_proto,
    publish_result_from_proto,
    report_to_proto,
    snapshot_header_from_proto,
    verdict_to_proto,
)

log = logging.getLogger(__name__)
R = TypeVar("R")
PUBLISH_PART = 50_000
"""Hashes per message of a streamed publication (well under the message limit)."""
VIDEO_PART = 32
"""Frame sets per part: at most 32 x 58 KB, under gRPC's 4 MiB message limit."""


@dataclass(frozen=True)
class ClientTLS:
    ca: Path
    cert: Path
    key: Path


class Subscription:
    """An open Subscribe stream: iterate for notes, ``cancel`` to end it."""

    def __init__(self, call: Iterator[pb.SignedCheckpoint]) -> None:
        self._call = call

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        try:
            for m in self._call:
                yield m.list_id, m.note
        except grpc.RpcError as e:
            raise error_from_rpc(e, "subscription") from e

    def cancel(self) -> None:
        if isinstance(self._call, grpc.Future):
            self._call.cancel()


class HubClient(OversightCalls):
    def __init__(
        self,
        address: str,
        tls: ClientTLS,
        *,
        timeout: float = 15.0,
        backoff: Backoff | None = None,
        max_message_bytes: int | None = None,
        interceptors: Sequence[grpc.UnaryUnaryClientInterceptor] = (),
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.backoff = backoff or Backoff()
        options = channel_options(max_message_bytes) if max_message_bytes else channel_options()
        self._channel = grpc.secure_channel(
            address, client_credentials(tls.ca, tls.cert, tls.key), options=options
        )
        channel = grpc.intercept_channel(self._channel, *interceptors)
        self.log = pb_grpc.LogStub(channel)
        self.admin = pb_grpc.AdminStub(channel)
        self.reports = pb_grpc.ReportsStub(channel)
        self.cases = pb_grpc.CasesStub(channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unary(self, what: str, call: Callable[..., R], request: object) -> R:
        for attempt in range(self.backoff.attempts):
            try:
                return call(request, timeout=self.timeout)
            except grpc.RpcError as e:
                error = error_from_rpc(e, what)
                if not isinstance(e, grpc.Call) or e.code() not in RETRYABLE:
                    raise error from e
                if attempt + 1 == self.backoff.attempts:
                    raise error from e
                delay = self.backoff.delay(attempt)
                log.warning("%s failed (%s); retrying in %.1f s", what, e.code().name, delay)
                time.sleep(delay)
        raise UnavailableError(f"{what}: no attempts configured")

    def _stream(
        self, what: str, call: Callable[..., Iterator[R]], request: object, timeout: float | None
    ) -> Iterator[R]:
        try:
            yield from call(request, timeout=timeout)
        except grpc.RpcError as e:
            raise error_from_rpc(e, what) from e

    # --- Log ---

    def checkpoint(self, list_id: str) -> bytes:
        m = self._unary(
            f"checkpoint of {list_id}",
            self.log.GetCheckpoint,
            pb.GetCheckpointRequest(list_id=list_id),
        )
        return m.note

    def trust_root(self, version: int) -> bytes | None:
        """Signed trust-root ``version``, or None past the newest."""
        try:
            m = self._unary(
                f"trust root version {version}",
                self.log.GetTrustRoot,
                pb.GetTrustRootRequest(version=version),
            )
        except NotFoundError:
            return None
        return m.note

    def leaves(self, list_id: str, start: int, end: int) -> Iterator[tuple[int, Sequence[bytes]]]:
        request = pb.GetLeavesRequest(list_id=list_id, start=start, end=end)
        for batch in self._stream(
            f"leaves {start}..{end} of {list_id}", self.log.GetLeaves, request, self.timeout * 20
        ):
            yield batch.start, batch.leaves

    def snapshot(
        self, list_id: str, from_size: int
    ) -> Iterator[SnapshotHeader | tuple[Sequence[str], Sequence[int], Sequence[bytes]]]:
        request = pb.SnapshotRequest(list_id=list_id, from_size=from_size)
        for chunk in self._stream(
            f"snapshot of {list_id}", self.log.GetSnapshot, request, self.timeout * 40
        ):
            if chunk.HasField("header"):
                yield snapshot_header_from_proto(chunk.header)
            else:
                yield chunk.signals.signals, chunk.signals.versions, chunk.signals.videos

    def subscribe(self, list_ids: Sequence[str]) -> Subscription:
        """A stream of (list id, signed note); ``cancel()`` ends it from any thread."""
        return Subscription(self.log.Subscribe(pb.SubscribeRequest(list_ids=list(list_ids))))

    def inclusion_proof(self, list_id: str, index: int, size: int) -> list[bytes]:
        request = pb.InclusionProofRequest(list_id=list_id, index=index, tree_size=size)
        return list(self._unary("inclusion proof", self.log.GetInclusionProof, request).hashes)

    def consistency_proof(self, list_id: str, first: int, second: int) -> list[bytes]:
        request = pb.ConsistencyProofRequest(list_id=list_id, first=first, second=second)
        return list(self._unary("consistency proof", self.log.GetConsistencyProof, request).hashes)

    # --- Admin ---

    def create_list(self, list_id: str, *, reason: str = "") -> bool:
        request = pb.CreateListRequest(list_id=list_id, reason=reason)
        return self._unary("create list", self.admin.CreateList, request).created

    def grant(
        self, list_id: str, partner: str, *, granted: bool = True, new_partner: bool = False,
        reason: str = "",
    ) -> bool:  # fmt: skip
        """Grant (or revoke) a partner's reading of a list. ``new_partner``: the hub has not
        seen this partner yet (see ``server.access.Access.set_grant``)."""
        call = self.admin.Grant if granted else self.admin.Revoke
        request = pb.GrantRequest(list_id=list_id, partner=partner, new_partner=new_partner,
                                  reason=reason)  # fmt: skip
        return self._unary("grant", call, request).changed

    def report_progress(self, list_id: str, version: int) -> None:
        """Tell the hub which version of ``list_id`` this node has verified (partners)."""
        request = pb.ProgressRequest(list_id=list_id, version=version)
        self._unary(f"progress of {list_id}", self.log.ReportProgress, request)

    def partners(self) -> list[Partner]:
        response = self._unary("partners", self.admin.Partners, pb.PartnersRequest())
        return [partner_from_proto(m) for m in response.partners]

    def revoke_certificate(self, serial: str, *, reason: str = "") -> bool:
        """Revoke a certificate at the hub (operator); False if it was already."""
        request = pb.RevokeCertificateRequest(serial=serial, reason=reason)
        return self._unary("revoke", self.admin.RevokeCertificate, request).revoked

    def publish(
        self,
        list_id: str,
        additions: Sequence[str],
        removals: Sequence[str] = (),
        *,
        idempotency_key: str = "",
        on_sent: Callable[[int], None] | None = None,
        reason: str = "",
        videos: Sequence[FrameSet] = (),
    ) -> PublishResult:
        """Publish atomically: the hub makes as many versions as its delta limit needs and
        commits them together. Large inputs go as one client-streamed call; every retry
        carries the same idempotency key, so nothing is published twice. ``on_sent`` is
        told how many hashes each part carried as it goes (a retry sends them again)."""
        key = idempotency_key or str(uuid.uuid4())
        what = f"publish to {list_id}"
        texts = [v.text for v in videos]
        if len(additions) + len(removals) <= PUBLISH_PART and len(texts) <= VIDEO_PART:
            request = pb.PublishRequest(list_id=list_id, additions=list(additions),
                                        removals=list(removals), idempotency_key=key,
                                        reason=reason, videos=texts)  # fmt: skip
            result = publish_result_from_proto(self._unary(what, self.admin.Publish, request))
            if on_sent is not None:
                on_sent(len(additions) + len(removals))
            return result
        parts = [
            pb.PublishRequest(
                list_id=list_id, idempotency_key=key, reason=reason,
                additions=list(additions[i : i + PUBLISH_PART]),
                removals=list(removals[i : i + PUBLISH_PART]),
                videos=texts[n * VIDEO_PART : (n + 1) * VIDEO_PART],
            )
            for n, i in enumerate(range(
                0, max(len(additions), len(removals), -(-len(texts) // VIDEO_PART) * PUBLISH_PART),
                PUBLISH_PART))
        ]  # fmt: skip

        def sent(parts: list[pb.PublishRequest]) -> Iterator[pb.PublishRequest]:
            for part in parts:
                yield part
                if on_sent is not None:
                    on_sent(len(part.additions) + len(part.removals))

        def stream(parts: list[pb.PublishRequest], timeout: float) -> pb.PublishResponse:
            return self.admin.PublishStream(sent(parts), timeout=timeout * 8)

        return publish_result_from_proto(self._unary(what, stream, parts))

    def status(self) -> list[ListStatus]:
        response = self._unary("status", self.admin.Status, pb.StatusRequest())
        return [list_status_from_proto(m) for m in response.lists]

    def matches(self, list_id: str, review_threshold: int = 0) -> list[HashMatches]:
        """Every reported hash of the list, ordered by signal, fetched a page at a time."""
        found: list[HashMatches] = []
        token = ""
        while True:
            request = pb.MatchesRequest(
                list_id=list_id, review_threshold=review_threshold, page_token=token
            )
            response = self._unary(f"matches of {list_id}", self.admin.Matches, request)
            found.extend(hash_matches_from_proto(m) for m in response.hashes)
            token = response.next_page_token
            if not token:
                return found

    # --- Reports ---

    def submit(self, reports: Sequence[Report], verdicts: Sequence[Verdict]) -> tuple[int, int]:
        """Deliver reports and verdicts; safe to retry (the hub de-duplicates by id)."""
        request = pb.SubmitRequest(
            reports=[report_to_proto(r) for r in reports],
            verdicts=[verdict_to_proto(v) for v in verdicts],
        )
        response = self._unary("report delivery", self.reports.Submit, request)
        return response.new_reports, response.new_verdicts

    # --- Cases ---

    def open_case(self, list_id: str, number: str, pin: str, signals: Sequence[str]) -> CaseView:
        """Open a case (the intake). Safe to retry: the same number and PIN again are
        answered with the case they opened."""
        request = pb.OpenCaseRequest(list_id=list_id, number=number, pin=pin, signals=signals)
        return case_view_from_proto(self._unary("open case", self.cases.Open, request))

    def get_case(self, number: str, pin: str) -> CaseView:
        request = pb.CaseRequest(number=number, pin=pin)
        return case_view_from_proto(self._unary("case status", self.cases.Get, request))

    def withdraw_case(self, number: str, pin: str) -> CaseView:
        """Withdraw a case (the intake); withdrawing it again answers the same."""
        request = pb.CaseRequest(number=number, pin=pin)
        return case_view_from_proto(self._unary("withdraw case", self.cases.Withdraw, request))

    def set_case_policy(self, policy: CasePolicy) -> None:
        self._unary("case policy", self.cases.SetPolicy, case_policy_to_proto(policy))

    def list_cases(
        self, list_id: str = "", state: str = "", after: str = "", limit: int = 100
    ) -> tuple[list[CaseView], list[CasePolicy]]:
        """A page of cases by number (after ``after``), and every list's case policy."""
        request = pb.ListCasesRequest(list_id=list_id, state=state, after=after, limit=limit)
        response = self._unary("cases", self.cases.List, request)
        return ([case_view_from_proto(m) for m in response.cases],
                [case_policy_from_proto(m) for m in response.policies])  # fmt: skip

    def show_case(self, number: str) -> tuple[CaseView, list[str]]:
        response = self._unary("case", self.cases.Show, pb.ShowCaseRequest(number=number))
        return case_view_from_proto(response.status), list(response.signals)

    def decide_case(self, number: str, approve: bool, *, reason: str = "") -> CaseView:
        """Approve (publish now) or reject a case (the operator). A retry whose first
        attempt went through is refused as already decided (``ConflictError``)."""
        request = pb.DecideCaseRequest(number=number, approve=approve, reason=reason)
        return case_view_from_proto(self._unary("decide case", self.cases.Decide, request))
