"""gRPC plumbing shared by the hub and the node: status mapping, TLS, channel options.

``STATUS_CODES`` is the one table from this package's errors to gRPC status
codes. A servicer method wrapped with ``@handle_errors`` turns a
``HashlistError`` into that status with the error's message (written for a
person), and anything unexpected into ``INTERNAL`` with a fixed message,
logging the traceback on the server only: a client never sees a stack trace.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import grpc

from hashlist import errors

log = logging.getLogger(__name__)

STATUS_CODES: tuple[tuple[type[errors.HashlistError], grpc.StatusCode], ...] = (
    (errors.InputError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.UnauthenticatedError, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (errors.NotFoundError, grpc.StatusCode.NOT_FOUND),
    (errors.UnavailableError, grpc.StatusCode.UNAVAILABLE),
    (errors.VerificationError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.StorageError, grpc.StatusCode.INTERNAL),
    (errors.ConfigError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.HashlistError, grpc.StatusCode.INTERNAL),
)

# Generous for 16 MiB deltas in one leaf batch, small enough to bound memory.
DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024


def status_for(error: errors.HashlistError) -> grpc.StatusCode:
    for kind, code in STATUS_CODES:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.INTERNAL  # unreachable: HashlistError is the last row


def abort(context: grpc.ServicerContext, error: errors.HashlistError) -> NoReturn:
    context.abort(status_for(error), str(error))
    raise AssertionError("context.abort returned")  # pragma: no cover


F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(method: F) -> F:
    """Map errors raised by a (unary or streaming) servicer method to statuses."""

    @functools.wraps(method)
    def unary(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except errors.HashlistError as e:
            abort(context, e)
        except Exception:
            log.exception("internal error in %s", method.__name__)
            context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")

    @functools.wraps(method)
    def streaming(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            yield from method(self, request, context)
        except errors.HashlistError as e:
            abort(context, e)
        except Exception:
            log.exception("internal error in %s", method.__name__)
            context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")

    return streaming if inspect.isgeneratorfunction(method) else unary  # type: ignore[return-value]


_FROM_STATUS: dict[grpc.StatusCode, type[errors.HashlistError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InputError,
    grpc.StatusCode.UNAUTHENTICATED: errors.UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDeniedError,
    grpc.StatusCode.NOT_FOUND: errors.NotFoundError,
    grpc.StatusCode.UNAVAILABLE: errors.UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.UnavailableError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.UnavailableError,
    grpc.StatusCode.CANCELLED: errors.UnavailableError,
}
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


def error_from_rpc(e: grpc.RpcError, what: str) -> errors.HashlistError:
    """The client-side twin of ``STATUS_CODES``: a typed error for a failed call."""
    code = e.code() if isinstance(e, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = e.details() if isinstance(e, grpc.Call) else str(e)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in (details or ""):
        return errors.OversizedResponseError(
            f"{what}: the hub sent an oversized message: {details}"
        )
    kind = _FROM_STATUS.get(code, errors.HashlistError)
    return kind(f"{what}: {details or code.name}")


def channel_options(max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        # Keep long-lived subscription streams alive through idle NATs and
        # notice a dead peer within about half a minute.
        ("grpc.keepalive_time_ms", 20_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]


def server_options(max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> list[tuple[str, Any]]:
    return [
        *channel_options(max_message_bytes),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.so_reuseport", 0),
    ]


def client_credentials(ca: Path, cert: Path, key: Path) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=key.read_bytes(),
        certificate_chain=cert.read_bytes(),
    )


def server_credentials(ca: Path, cert: Path, key: Path) -> grpc.ServerCredentials:
    # require_client_auth: the handshake itself refuses clients without a
    # certificate from our CA; servicers then read the role from it.
    return grpc.ssl_server_credentials(
        [(key.read_bytes(), cert.read_bytes())],
        root_certificates=ca.read_bytes(),
        require_client_auth=True,
    )
