"""gRPC plumbing shared by the hub and the node: status mapping, TLS, channel options.

``STATUS_TABLE`` is the one table from this package's errors to what a
client sees: a gRPC status code and a fixed public message. For errors about
the request itself (bad input, who the caller is, what it may do, a name
that does not exist) the error's own text follows the fixed message: those
errors are raised only with texts built from the request, and that text is
what makes the answer actionable. Every other error (storage, configuration,
a failed verification on the server, anything unexpected) reaches the client
as the fixed message and a reference; the detail, which may name files or
internals, is logged on the server with the same reference. A client never
sees a stack trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar, cast

import grpc

from hashlist import errors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublicStatus:
    code: grpc.StatusCode
    message: str
    detail_is_public: bool  # the error's text describes only the caller's request


STATUS_TABLE: tuple[tuple[type[errors.HashlistError], PublicStatus], ...] = (
    (errors.InputError,
     PublicStatus(grpc.StatusCode.INVALID_ARGUMENT, "invalid argument", True)),
    (errors.UnauthenticatedError,
     PublicStatus(grpc.StatusCode.UNAUTHENTICATED, "not authenticated", True)),
    (errors.PermissionDeniedError,
     PublicStatus(grpc.StatusCode.PERMISSION_DENIED, "permission denied", True)),
    (errors.NotFoundError,
     PublicStatus(grpc.StatusCode.NOT_FOUND, "not found", True)),
    (errors.ResourceExhaustedError,
     PublicStatus(grpc.StatusCode.RESOURCE_EXHAUSTED, "resource exhausted", True)),
    (errors.AlreadyExistsError,
     PublicStatus(grpc.StatusCode.ALREADY_EXISTS, "already exists", True)),
    (errors.ConflictError,
     PublicStatus(grpc.StatusCode.FAILED_PRECONDITION, "not possible now", True)),
    (errors.UnavailableError,
     PublicStatus(grpc.StatusCode.UNAVAILABLE, "a service it depends on is unavailable; "
                  "try again later", False)),
    (errors.VerificationError,
     PublicStatus(grpc.StatusCode.FAILED_PRECONDITION, "the server could not verify data "
                  "it depends on; its operator has the details", False)),
    (errors.StorageError,
     PublicStatus(grpc.StatusCode.INTERNAL, "the server's storage failed; its operator has "
                  "the details", False)),
    (errors.ConfigError,
     PublicStatus(grpc.StatusCode.FAILED_PRECONDITION, "the server is not configured for "
                  "this; its operator has the details", False)),
    (errors.HashlistError,
     PublicStatus(grpc.StatusCode.INTERNAL, "internal error; the server's operator has "
                  "the details", False)),
)  # fmt: skip
_UNEXPECTED = PublicStatus(
    grpc.StatusCode.INTERNAL, "internal error; the server's operator has the details", False
)


def public_status(error: errors.HashlistError) -> PublicStatus:
    return next(status for kind, status in STATUS_TABLE if isinstance(error, kind))


def public_message(error: errors.HashlistError, reference: str) -> str:
    """What the client is told about ``error`` (``reference`` ties it to the log line)."""
    status = public_status(error)
    if status.detail_is_public:
        return f"{status.message}: {_bounded(str(error))}"
    return f"{status.message} (reference {reference})"


MAX_DETAIL = 2000
"""Characters of an error's detail sent or logged, after escaping to ASCII: however
long the input it quotes, the status stays far below gRPC's 16 KiB metadata limit
(over it, the client would see RESOURCE_EXHAUSTED instead of the refusal). gRPC
percent-encodes what is not printable ASCII, so a limit in characters holds only
for ASCII."""


def _bounded(text: str) -> str:
    ascii_text = text.encode("ascii", "backslashreplace").decode("ascii")
    if len(ascii_text) <= MAX_DETAIL:
        return ascii_text
    return f"{ascii_text[:MAX_DETAIL]}... ({len(text):,} characters)"


ErrorObserver = Callable[[str, str], None]
"""Told (method, status code name) of every call a servicer ends with an error: a
servicer that has an ``rpc_errors`` attribute of this type is counted."""


def public_error(
    error: errors.HashlistError,
    where: str,
    observe: ErrorObserver | None = None,
    *,
    quiet: bool = False,
) -> tuple[grpc.StatusCode, str]:
    """The status code and message a client is told about ``error``; the detail is
    logged here (with a reference, when it is not for the client). ``quiet``: a refusal
    of the request's own content is logged at debug level (one item of many)."""
    reference = secrets.token_hex(4)
    status = public_status(error)
    if observe is not None:
        observe(where, status.code.name)
    if status.detail_is_public:
        level = logging.DEBUG if quiet else logging.INFO
        log.log(level, "%s refused: %s: %s", where, type(error).__name__, _bounded(str(error)))
    else:
        log.error("%s failed (reference %s): %s: %s", where, reference, type(error).__name__,
                  _bounded(str(error)))  # fmt: skip
    return status.code, public_message(error, reference)


def abort(
    context: grpc.ServicerContext,
    error: errors.HashlistError,
    where: str,
    observe: ErrorObserver | None = None,
) -> NoReturn:
    context.abort(*public_error(error, where, observe))
    raise AssertionError("context.abort returned")  # pragma: no cover


def _unexpected_status(where: str, observe: ErrorObserver | None) -> tuple[grpc.StatusCode, str]:
    """What a client is told about an exception no table row covers (a bug); called in
    the ``except`` block, so the traceback is logged."""
    reference = secrets.token_hex(4)
    if observe is not None:
        observe(where, _UNEXPECTED.code.name)
    log.exception("%s: internal error (reference %s)", where, reference)
    return _UNEXPECTED.code, f"{_UNEXPECTED.message} (reference {reference})"


def _abort_unexpected(
    context: grpc.ServicerContext, where: str, observe: ErrorObserver | None
) -> NoReturn:
    context.abort(*_unexpected_status(where, observe))
    raise AssertionError("context.abort returned")  # pragma: no cover


F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def handle_errors(method: F) -> F:
    """Map errors raised by a (unary or streaming, sync or async streaming) servicer
    method to statuses."""

    name = method.__name__

    @functools.wraps(method)
    def unary(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except errors.HashlistError as e:
            abort(context, e, name, getattr(self, "rpc_errors", None))
        except Exception:
            _abort_unexpected(context, name, getattr(self, "rpc_errors", None))

    @functools.wraps(method)
    def streaming(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            yield from method(self, request, context)
        except errors.HashlistError as e:
            abort(context, e, name, getattr(self, "rpc_errors", None))
        except Exception:
            _abort_unexpected(context, name, getattr(self, "rpc_errors", None))

    # A coroutine streaming method of a grpc.aio server, whose context's abort is a
    # coroutine. The method's generator is closed here, at once, when the stream ends
    # (its client gone, say), so what it holds is released then, not at collection.
    @functools.wraps(method)
    async def streaming_async(
        self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        observe = getattr(self, "rpc_errors", None)
        try:
            async with contextlib.aclosing(method(self, request, context)) as items:
                async for item in items:
                    yield item
        except errors.HashlistError as e:
            await context.abort(*public_error(e, name, observe))
        except Exception:
            await context.abort(*_unexpected_status(name, observe))

    if inspect.isasyncgenfunction(method):
        return streaming_async  # type: ignore[return-value]
    return streaming if inspect.isgeneratorfunction(method) else unary  # type: ignore[return-value]


_END = object()


def threaded_stream(method: Callable[..., Iterator[T]]) -> Callable[..., AsyncIterator[T]]:
    """A synchronous server-streaming method, served by a grpc.aio server: each step of
    its generator runs in the event loop's default executor (a worker thread), no
    thread is held between steps, and the generator is closed, in a worker thread, as
    soon as the stream ends however it ends. (grpc.aio's own handling of a synchronous
    generator holds a thread for the stream's life and, once the client is gone, for
    good, with whatever the generator holds.) Put ``handle_errors`` above it."""

    @functools.wraps(method)
    async def stream(self: Any, request: Any, context: Any) -> AsyncIterator[T]:
        loop = asyncio.get_running_loop()
        items = cast(Generator[T, None, None], method(self, request, context))  # a generator
        step: asyncio.Future[Any] | None = None
        try:
            while True:
                step = loop.run_in_executor(None, next, items, _END)
                # Shielded: a cancelled stream waits for the step in flight (below), as a
                # generator cannot be closed while it runs.
                item = await asyncio.shield(step)
                if item is _END:
                    return
                yield item
        finally:
            if step is not None:
                with contextlib.suppress(Exception):  # raised above already, or nobody is told
                    await step
            await loop.run_in_executor(None, items.close)

    return stream


# Generous for a 16 MiB leaf (format v1, still served from history written before
# v2) in one leaf batch, small enough to bound memory.
DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024


_FROM_STATUS: dict[grpc.StatusCode, type[errors.HashlistError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InputError,
    grpc.StatusCode.UNAUTHENTICATED: errors.UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDeniedError,
    grpc.StatusCode.NOT_FOUND: errors.NotFoundError,
    grpc.StatusCode.UNAVAILABLE: errors.UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.UnavailableError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.ResourceExhaustedError,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: errors.ConflictError,
    grpc.StatusCode.CANCELLED: errors.UnavailableError,
}
# Only what a moment may change: a refusal (bad input, a cap, a rate limit) is
# answered again the same way, so a call is never repeated for it.
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


def error_from_rpc(e: grpc.RpcError, what: str) -> errors.HashlistError:
    """The client-side twin of ``STATUS_TABLE``: a typed error for a failed call."""
    code = e.code() if isinstance(e, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = e.details() if isinstance(e, grpc.Call) else str(e)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in (details or ""):
        return errors.OversizedResponseError(
            f"{what}: a message was over the size limit ({details})"
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


def server_options(
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    *,
    max_connections: int = 0,
    handshake_timeout_seconds: float = 0.0,
    idle_connection_seconds: float = 0.0,
) -> list[tuple[str, Any]]:
    """Options of a server; 0 leaves gRPC's default (no bound on connections, a
    120 s handshake timeout, idle connections kept)."""
    options: list[tuple[str, Any]] = [
        *channel_options(max_message_bytes),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.so_reuseport", 0),
    ]
    if max_connections:
        # Counted from accept, TLS handshake included: further connections are
        # closed at once rather than taking a file descriptor each.
        options.append(("grpc.max_allowed_incoming_connections", max_connections))
    if handshake_timeout_seconds:
        options.append(("grpc.server_handshake_timeout_ms", int(handshake_timeout_seconds * 1000)))
    if idle_connection_seconds:
        options.append(("grpc.max_connection_idle_ms", int(idle_connection_seconds * 1000)))
    return options


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise errors.ConfigError(f"cannot read {what} {path}: {e.strerror}") from e


def client_credentials(ca: Path, cert: Path, key: Path) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=_read(ca, "the CA certificate"),
        private_key=_read(key, "the private key"),
        certificate_chain=_read(cert, "the certificate"),
    )


def server_credentials(ca: Path, cert: Path, key: Path) -> grpc.ServerCredentials:
    # require_client_auth: the handshake itself refuses clients without a
    # certificate from our CA; servicers then read the role from it.
    return grpc.ssl_server_credentials(
        [(_read(key, "the private key"), _read(cert, "the certificate"))],
        root_certificates=_read(ca, "the CA certificate"),
        require_client_auth=True,
    )
