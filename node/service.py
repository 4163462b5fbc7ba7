"""The node's Matcher gRPC service, and the client the CLI and platforms use.

The servicer only translates protobuf to the ``Matcher`` API and back
(``hashlist.wire``); errors map to statuses through ``hashlist.rpc`` (bad
input is ``INVALID_ARGUMENT``, an unknown report id ``NOT_FOUND``).
``CheckBatch`` answers its items in order, a chunk at a time, each with its
result or its own error; a cancelled call stops at the next chunk.

Where it listens: always a Unix socket or loopback address without TLS (the
platform's processes on the node's host, ``node.config.check_local_address``);
and, with ``MatcherTLS``, a TCP address on which the handshake refuses any
caller without a client certificate from the platform's CA, for a fleet of
upload hosts. Handshakes time out and connections are capped, as on the hub.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import SERVICE_NAME as HEALTH_SERVICE
from grpc_health.v1.health import HealthServicer
from grpc_reflection.v1alpha import reflection

from hashlist.client import ClientTLS
from hashlist.errors import ConfigError, HashlistError, InputError, UnavailableError
from hashlist.model import MAX_BATCH_ITEMS, CheckQuery, CheckResult, ItemError
from hashlist.rpc import (
    channel_options,
    client_credentials,
    error_from_rpc,
    handle_errors,
    public_error,
    server_credentials,
    server_options,
)
from hashlist.v1 import hashlist_pb2 as pb
from hashlist.v1 import hashlist_pb2_grpc as pb_grpc
from hashlist.wire import (
    batch_answer_from_proto,
    batch_answer_to_proto,
    check_query_from_proto,
    check_query_to_proto,
    check_result_from_proto,
    check_result_to_proto,
)
from node.config import MatcherTLS, check_local_address
from node.matcher import Matcher

log = logging.getLogger(__name__)
BATCH_CHUNK = 256
"""Items of a batch checked (one lock hold, one outbox transaction) between answers."""


class MatcherServicer(pb_grpc.MatcherServicer):
    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher

    @handle_errors
    def Check(self, request: pb.CheckRequest, context: grpc.ServicerContext) -> pb.CheckResponse:
        result = self.matcher.check(
            content=request.content if request.content else None,
            signals=list(request.signals),
            pdq_quality=request.pdq_quality if request.HasField("pdq_quality") else None,
            content_id=request.content_id,
            report=request.report if request.HasField("report") else True,
        )
        return check_result_to_proto(result)

    @handle_errors
    def CheckBatch(
        self, request: pb.CheckBatchRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.CheckBatchAnswers]:
        if not 1 <= len(request.items) <= MAX_BATCH_ITEMS:  # before any work per item
            raise InputError(
                f"a batch has 1 to {MAX_BATCH_ITEMS:,} items, got {len(request.items):,}"
            )
        queries = [check_query_from_proto(m) for m in request.items]
        answers: list[pb.CheckBatchAnswer] = []
        for index, answer in checked_batch(self.matcher, queries, context.is_active):
            answers.append(batch_answer_to_proto(index, answer))
            if len(answers) == BATCH_CHUNK:
                yield pb.CheckBatchAnswers(answers=answers)
                answers = []
        if answers:
            yield pb.CheckBatchAnswers(answers=answers)

    @handle_errors
    def RecordVerdict(
        self, request: pb.VerdictRequest, context: grpc.ServicerContext
    ) -> pb.VerdictResponse:
        return pb.VerdictResponse(
            verdict_id=self.matcher.verdict(request.report_id, request.verdict).verdict_id
        )


def checked_batch(
    matcher: Matcher, queries: Sequence[CheckQuery], active: Callable[[], bool]
) -> Iterator[tuple[int, CheckResult | ItemError]]:
    """(index, answer) for each query, in order, a chunk at a time while ``active()``.

    An item's own error is its answer, as a unary check would have said it. A chunk
    that fails as a whole (storage, say) answers each of its items with that error and
    the batch goes on: the answers already given, with their report ids, stand, and
    nothing is half-answered. Refusals are logged at debug level and counted in one
    summary line, never one line per item."""
    if not 1 <= len(queries) <= MAX_BATCH_ITEMS:
        raise InputError(f"a batch has 1 to {MAX_BATCH_ITEMS:,} items, got {len(queries):,}")
    started, matched, failed = time.monotonic(), 0, 0
    for start in range(0, len(queries), BATCH_CHUNK):
        if not active():
            log.info("check batch cancelled by the caller after %d of %d items",
                     start, len(queries))  # fmt: skip
            return
        chunk = queries[start : start + BATCH_CHUNK]
        try:
            answers = matcher.check_many(chunk)
        except HashlistError as e:
            answers = [e] * len(chunk)
        for offset, answer in enumerate(answers):
            if isinstance(answer, HashlistError):
                failed += 1
                yield start + offset, item_error(answer, f"CheckBatch item {start + offset}")
            else:
                matched += bool(answer.matches)
                yield start + offset, answer
    log.info("check batch: %d items, %d matched, %d refused, in %.2f s",
             len(queries), matched, failed, time.monotonic() - started)  # fmt: skip


def item_error(error: HashlistError, where: str) -> ItemError:
    """What a batch answers for one item's ``error``: as a unary call would have said it,
    logged at debug level (one item of many)."""
    code, message = public_error(error, where, quiet=True)
    return ItemError(code.name, message)


MATCHER_SERVICE = pb.DESCRIPTOR.services_by_name["Matcher"].full_name


@dataclass(frozen=True)
class MatcherAddresses:
    local: str
    """Unix socket or loopback, no TLS."""
    tls: str
    """TCP with client certificates, or "" (not served)."""


@contextmanager
def running_matcher(
    matcher: Matcher,
    address: str,
    *,
    max_message_bytes: int,
    workers: int = 8,
    health: HealthServicer | None = None,
    tls: MatcherTLS | None = None,
    tls_address: str = "",
    max_connections: int = 1024,
    handshake_timeout_seconds: float = 10.0,
) -> Iterator[MatcherAddresses]:
    """Serve ``matcher`` on the local ``address`` and, with ``tls``, on ``tls_address``
    with client certificates; with the standard gRPC health service (``health``: its
    status is the caller's to set; NOT_SERVING until it does) and reflection. Yields the
    bound addresses (port 0 resolved)."""
    check_local_address(address)
    server = grpc.server(
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="matcher"),
        options=server_options(max_message_bytes, max_connections=max_connections,
                               handshake_timeout_seconds=handshake_timeout_seconds),
    )  # fmt: skip
    pb_grpc.add_MatcherServicer_to_server(MatcherServicer(matcher), server)
    health = health or matcher_health()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [MATCHER_SERVICE, HEALTH_SERVICE, reflection.SERVICE_NAME], server
    )
    local = _bound(address, server.add_insecure_port(address))
    remote = ""
    if tls is not None and tls_address:
        remote = _bound(tls_address, server.add_secure_port(tls_address, _credentials(tls)))
    server.start()
    try:
        yield MatcherAddresses(local, remote)
    finally:
        health.enter_graceful_shutdown()
        server.stop(grace=2).wait()


def _bound(address: str, port: int) -> str:
    if port == 0 and not address.startswith("unix:"):
        raise ConfigError(f"cannot listen on {address}")
    return address if address.startswith("unix:") else f"{address.rpartition(':')[0]}:{port}"


def _credentials(tls: MatcherTLS) -> grpc.ServerCredentials:
    # The handshake refuses a caller without a certificate from the platform's CA.
    return server_credentials(tls.client_ca, tls.cert, tls.key)


def matcher_health() -> HealthServicer:
    """A health service whose Matcher (and overall) status starts NOT_SERVING."""
    servicer = HealthServicer()
    set_matcher_health(servicer, serving=False)
    return servicer


def set_matcher_health(servicer: HealthServicer, *, serving: bool) -> None:
    status = (health_pb2.HealthCheckResponse.SERVING if serving
              else health_pb2.HealthCheckResponse.NOT_SERVING)  # fmt: skip
    for service in ("", MATCHER_SERVICE):
        servicer.set(service, status)


class MatcherClient:
    """Calls a node's Matcher service; typed errors, a deadline on every call."""

    def __init__(
        self,
        address: str,
        *,
        tls: ClientTLS | None = None,
        timeout: float = 30.0,
        max_message_bytes: int = 64 * 1024 * 1024 + 4096,
    ) -> None:
        """``tls``: this client's certificate and key, and the CA of the node's certificate
        (for a Matcher on TCP). ``max_message_bytes``: at least the node's
        ``max_check_bytes`` (default 64 MiB)."""
        self.address, self.timeout = address, timeout
        options = channel_options(max_message_bytes)
        if tls is None:
            self._channel = grpc.insecure_channel(address, options=options)
        else:
            credentials = client_credentials(tls.ca, tls.cert, tls.key)
            self._channel = grpc.secure_channel(address, credentials, options=options)
        self._stub = pb_grpc.MatcherStub(self._channel)

    def __enter__(self) -> MatcherClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._channel.close()

    def check(
        self,
        *,
        content: bytes = b"",
        signals: Sequence[str] = (),
        pdq_quality: int | None = None,
        content_id: str = "",
        report: bool = True,
    ) -> CheckResult:
        """``report=False``: a dry run, nothing is reported to the hub."""
        request = pb.CheckRequest(
            content=content, signals=list(signals), pdq_quality=pdq_quality,
            content_id=content_id, report=report,
        )  # fmt: skip
        try:
            return check_result_from_proto(self._stub.Check(request, timeout=self.timeout))
        except grpc.RpcError as e:
            raise self._error(e, "check") from e

    def check_batch(
        self, queries: Sequence[CheckQuery], *, timeout: float | None = None
    ) -> Iterator[CheckResult | ItemError]:
        """One answer per query, in order, as the node streams them (at most
        ``MAX_BATCH_ITEMS`` queries). ``timeout``: for the whole call; by default the
        client's timeout plus 50 ms per item and 1 s per item carrying content (decoded
        one after another on the node)."""
        request = pb.CheckBatchRequest(items=[check_query_to_proto(q) for q in queries])
        with_content = sum(1 for q in queries if q.content)
        deadline = timeout or self.timeout + 0.05 * len(queries) + 1.0 * with_content
        expected = 0
        try:
            for message in self._stub.CheckBatch(request, timeout=deadline):
                for one in message.answers:
                    index, answer = batch_answer_from_proto(one)
                    if index != expected:
                        raise UnavailableError(f"check batch at {self.address}: answer {index} "
                                               f"came where {expected} was due")  # fmt: skip
                    expected += 1
                    yield answer
        except grpc.RpcError as e:
            raise self._error(e, "check batch") from e
        if expected != len(queries):
            raise UnavailableError(f"check batch at the node's matcher {self.address}: the "
                                   f"answers ended after {expected} of {len(queries)}")  # fmt: skip

    def verdict(self, report_id: str, verdict: str) -> str:
        request = pb.VerdictRequest(report_id=report_id, verdict=verdict)
        try:
            return self._stub.RecordVerdict(request, timeout=self.timeout).verdict_id
        except grpc.RpcError as e:
            raise self._error(e, "verdict") from e

    def _error(self, e: grpc.RpcError, what: str) -> Exception:
        error = error_from_rpc(e, f"{what} at the node's matcher {self.address}")
        if isinstance(error, UnavailableError):
            return UnavailableError(f"{error} (is `hashlist node run` running?)")
        return error
