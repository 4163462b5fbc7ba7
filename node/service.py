"""The node's local Matcher gRPC service, and the client the CLI and platforms use.

The servicer only translates protobuf to the ``Matcher`` API and back
(``hashlist.wire``); errors map to statuses through ``hashlist.rpc`` (bad
input is ``INVALID_ARGUMENT``, an unknown report id ``NOT_FOUND``). It binds
to a Unix socket or loopback only (``node.config.check_local_address``) and
has no TLS: it is the platform's own process talking to its own node.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import SERVICE_NAME as HEALTH_SERVICE
from grpc_health.v1.health import HealthServicer
from grpc_reflection.v1alpha import reflection

from hashlist.errors import ConfigError, UnavailableError
from hashlist.model import CheckResult
from hashlist.rpc import channel_options, error_from_rpc, handle_errors, server_options
from hashlist.v1 import hashlist_pb2 as pb
from hashlist.v1 import hashlist_pb2_grpc as pb_grpc
from hashlist.wire import check_result_from_proto, check_result_to_proto
from node.config import check_local_address
from node.matcher import Matcher


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
    def RecordVerdict(
        self, request: pb.VerdictRequest, context: grpc.ServicerContext
    ) -> pb.VerdictResponse:
        return pb.VerdictResponse(
            verdict_id=self.matcher.verdict(request.report_id, request.verdict).verdict_id
        )


MATCHER_SERVICE = pb.DESCRIPTOR.services_by_name["Matcher"].full_name


@contextmanager
def running_matcher(
    matcher: Matcher,
    address: str,
    *,
    max_message_bytes: int,
    workers: int = 8,
    health: HealthServicer | None = None,
) -> Iterator[str]:
    """Serve ``matcher`` on ``address``, with the standard gRPC health service (``health``:
    its status is the caller's to set; NOT_SERVING until it does) and reflection;
    yields the bound address (port 0 resolved)."""
    check_local_address(address)
    server = grpc.server(
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="matcher"),
        options=server_options(max_message_bytes),
    )
    pb_grpc.add_MatcherServicer_to_server(MatcherServicer(matcher), server)
    health = health or matcher_health()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [MATCHER_SERVICE, HEALTH_SERVICE, reflection.SERVICE_NAME], server
    )
    port = server.add_insecure_port(address)
    if port == 0 and not address.startswith("unix:"):
        raise ConfigError(f"cannot listen on {address}")
    server.start()
    bound = address if address.startswith("unix:") else f"{address.rpartition(':')[0]}:{port}"
    try:
        yield bound
    finally:
        health.enter_graceful_shutdown()
        server.stop(grace=2).wait()


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
        timeout: float = 30.0,
        max_message_bytes: int = 64 * 1024 * 1024 + 4096,
    ) -> None:
        """``max_message_bytes``: at least the node's ``max_check_bytes`` (default 64 MiB)."""
        self.address, self.timeout = address, timeout
        self._channel = grpc.insecure_channel(address, options=channel_options(max_message_bytes))
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
