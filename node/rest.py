"""The Matcher's JSON API over HTTP: for platforms that do not speak gRPC.

``serving_rest(matcher, listen, ...)`` serves on ``listen`` (port 0 picks one):

- ``POST /v1/check``: one ``CheckRequest`` object, answered by a ``CheckResponse``;
- ``POST /v1/check-batch``: ``{"items": [...]}`` (1 to ``MAX_BATCH_ITEMS``),
  answered by ``{"answers": [...]}`` in the items' order, each a ``result`` or
  that item's own ``error`` (a malformed item too: the others are answered);
- ``POST /v1/verdict``: ``{"report_id", "verdict"}``, answered by ``{"verdict_id"}``;
- ``GET /openapi.json``: the document (``node.openapi``).

The same ``Matcher`` calls and error table as the gRPC service: an error is
``{"error": {"code", "message"}}`` with the HTTP status of its gRPC code, the
message as gRPC would send it, details logged and never sent; an unexpected
exception is a 500 with a reference, never a traceback.

Invariants: without ``tls`` it binds loopback only (``node.config`` checks);
with ``tls`` every connection must present a client certificate from the
platform's CA, the handshake running in the connection's own thread under
``handshake_timeout`` so a silent peer never blocks accepting. At most
``max_connections`` are open at once (more are closed as accepted); bodies
over ``max_body`` are refused before they are read; reads time out after
``idle_timeout``. No client address is logged.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hashlist.errors import ConfigError, HashlistError, InputError
from hashlist.model import MAX_BATCH_ITEMS, CheckQuery, CheckResult, ItemError
from hashlist.probes import serving_in_thread, split_listen
from hashlist.rpc import public_error
from node.config import MatcherTLS
from node.jsonwire import error_to_json, fields, query_from_json, result_to_json
from node.matcher import Matcher
from node.openapi import document
from node.service import checked_batch, item_error

log = logging.getLogger(__name__)

HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "UNAVAILABLE": 503,
}
"""gRPC status code name -> HTTP status; any other code is the server's fault (500)."""
_WORKING = 4


class _RefusedError(Exception):
    """An HTTP-level refusal (method, size, media type) with its status."""

    def __init__(self, status: int, message: str, allow: str = "") -> None:
        super().__init__(message)
        self.status, self.allow = status, allow


_PATHS = frozenset({"/v1/check", "/v1/check-batch", "/v1/verdict", "/openapi.json"})
_REFUSAL_CODES = {404: "NOT_FOUND", 405: "INVALID_ARGUMENT", 408: "UNAVAILABLE",
                  411: "INVALID_ARGUMENT", 413: "RESOURCE_EXHAUSTED",
                  415: "INVALID_ARGUMENT"}  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: a fleet client reuses its connection
    server_version = "hashlist"
    sys_version = ""

    def do_GET(self) -> None:
        if self._route() == "/openapi.json":
            self._send(200, document())
        else:
            self._answer_refusal()

    def do_POST(self) -> None:
        self._answer_refusal()

    def do_PUT(self) -> None:
        self._answer_refusal()

    def do_DELETE(self) -> None:
        self._answer_refusal()

    def do_PATCH(self) -> None:
        self._answer_refusal()

    def _route(self) -> str:
        """The path without its query, and only if it is one of ours (for logs too)."""
        path = getattr(self, "path", "").split("?", 1)[0]  # unset on a malformed request line
        return path if path in _PATHS else "(other)"

    def _answer_refusal(self) -> None:
        route = self._route()
        handler = {"/v1/check": self._check, "/v1/check-batch": self._batch,
                   "/v1/verdict": self._verdict}.get(route)  # fmt: skip
        try:
            if route == "/openapi.json":
                raise _RefusedError(405, "/openapi.json takes GET", allow="GET")
            if handler is None:
                raise _RefusedError(404, "no such path: POST /v1/check, /v1/check-batch, "
                                    "/v1/verdict; GET /openapi.json")  # fmt: skip
            if self.command != "POST":
                raise _RefusedError(405, f"{route} takes POST", allow="POST")
            body = self._body()
            with self.server.working:  # parsing and checking: a few requests at a time
                self._send(200, handler(self._parsed(body)))
        except _RefusedError as e:
            self.close_connection = True  # the body may be unread
            self._error(e.status, _REFUSAL_CODES[e.status], str(e), allow=e.allow)
        except HashlistError as e:
            code, message = public_error(e, f"HTTP {route}")
            self._error(HTTP_STATUS.get(code.name, 500), code.name, message)
        except Exception:
            reference = secrets.token_hex(4)
            log.exception("HTTP %s: internal error (reference %s)", route, reference)
            self._error(500, "INTERNAL", f"internal error; the node's operator has the "
                                         f"details (reference {reference})")  # fmt: skip

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (an unknown method, headers too long) in our body."""
        self.close_connection = True
        known = {501: "NOT_FOUND", 431: "INVALID_ARGUMENT", 414: "INVALID_ARGUMENT"}
        self._error(code, known.get(code, "INVALID_ARGUMENT"), message or "bad request")

    def _body(self) -> bytes:
        kind = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if kind != "application/json":
            raise _RefusedError(415, "send the body as Content-Type: application/json")
        length = self.headers.get("Content-Length", "")
        if not (length.isascii() and length.isdigit()):
            raise _RefusedError(411, "a Content-Length (decimal digits) is required")
        if int(length) > self.server.max_body:
            raise _RefusedError(413, f"the body is {int(length):,} bytes; this node accepts "
                                     f"at most {self.server.max_body:,}")  # fmt: skip
        # Read to a deadline, not just a per-read timeout: a peer dripping a byte at a
        # time cannot hold this thread for longer than body_seconds.
        deadline, parts, left = time.monotonic() + self.server.body_seconds, [], int(length)
        while left:
            part = self.rfile.read1(min(left, 1 << 20))
            if not part or time.monotonic() > deadline:
                raise _RefusedError(408, "the body did not arrive in time")
            parts.append(part)
            left -= len(part)
        return b"".join(parts)

    @staticmethod
    def _parsed(raw: bytes) -> object:
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
            raise InputError(f"the body is not JSON: {str(e)[:200]}") from e

    def _check(self, body: object) -> dict[str, Any]:
        (answer,) = self.server.matcher.check_many([query_from_json(body)])
        if isinstance(answer, HashlistError):
            raise answer
        return result_to_json(answer)

    def _batch(self, body: object) -> dict[str, Any]:
        items = fields(body, "the request", {"items"}).get("items")
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH_ITEMS:
            raise InputError(f"items must be a list of 1 to {MAX_BATCH_ITEMS:,} check requests")
        parsed: list[CheckQuery | ItemError] = []
        for i, item in enumerate(items):
            try:
                parsed.append(query_from_json(item, f"item {i}"))
            except InputError as e:
                parsed.append(item_error(e, f"HTTP check-batch item {i}"))
        queries = [q for q in parsed if isinstance(q, CheckQuery)]
        checked = iter(checked_batch(self.server.matcher, queries, lambda: True) if queries
                       else ())  # fmt: skip
        answers = []
        for i, item in enumerate(parsed):
            answer = item if isinstance(item, ItemError) else next(checked)[1]
            answers.append({"index": i, **_answer_json(answer)})
        return {"answers": answers}

    def _verdict(self, body: object) -> dict[str, Any]:
        obj = fields(body, "the request", {"report_id", "verdict"})
        report_id, verdict = obj.get("report_id"), obj.get("verdict")
        if not isinstance(report_id, str) or not isinstance(verdict, str):
            raise InputError("report_id and verdict must both be strings")
        return {"verdict_id": self.server.matcher.verdict(report_id, verdict).verdict_id}

    def _error(self, status: int, code: str, message: str, allow: str = "") -> None:
        self._send(status, {"error": {"code": code, "message": message}}, allow)

    def _send(self, status: int, body: object, allow: str = "") -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if allow:
            self.send_header("Allow", allow)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("http %s %s: %s", self.command, self._route(), code)  # never the address

    def log_message(self, format: str, *args: object) -> None:
        log.debug("http: %s", format % args)


def _answer_json(answer: CheckResult | ItemError) -> dict[str, Any]:
    if isinstance(answer, ItemError):
        return {"error": error_to_json(answer)}
    return {"result": result_to_json(answer)}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], matcher: Matcher, tls: ssl.SSLContext | None, *,
        max_body: int, max_connections: int, handshake_timeout: float, idle_timeout: float,
    ) -> None:  # fmt: skip
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.matcher, self.tls, self.max_body = matcher, tls, max_body
        self.handshake_timeout, self.idle_timeout = handshake_timeout, idle_timeout
        self.body_seconds = max(idle_timeout, 60.0)
        self._slots = threading.BoundedSemaphore(max_connections)
        # Parsed bodies are what cost memory (a JSON array of empty objects is ~25x its
        # bytes in Python): at most this many requests are parsed and checked at once.
        self.working = threading.BoundedSemaphore(_WORKING)
        self._warned = 0.0
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            if time.monotonic() - self._warned > 60:  # a flood is one line a minute
                self._warned = time.monotonic()
                log.warning("HTTP: at the connection limit; closing new connections")
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            request.settimeout(self.idle_timeout)
            super().finish_request(request, client_address)
            return
        request.settimeout(self.handshake_timeout)
        try:
            wrapped = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as e:  # no certificate, a foreign CA, too slow
            log.debug("HTTP: TLS handshake refused: %s", type(e).__name__)
            return
        try:
            wrapped.settimeout(self.idle_timeout)
            super().finish_request(wrapped, client_address)
        finally:
            wrapped.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that failed outside a request (a reset, a bad TLS record): one
        debug line, never the client's address or a traceback on stderr."""
        log.debug("HTTP: connection ended with %s", type(sys.exc_info()[1]).__name__)


def tls_context(tls: MatcherTLS) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_RENEGOTIATION
    try:
        context.load_cert_chain(tls.cert, tls.key)
        context.load_verify_locations(cafile=tls.client_ca)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"cannot load the Matcher's TLS files: {e}") from e
    context.verify_mode = ssl.CERT_REQUIRED
    return context


@contextmanager
def serving_rest(
    matcher: Matcher,
    listen: str,
    *,
    tls: MatcherTLS | None = None,
    max_body: int = 16 * 1024 * 1024,
    max_connections: int = 1024,
    handshake_timeout: float = 10.0,
    idle_timeout: float = 60.0,
) -> Iterator[str | None]:
    """Serve the JSON API on ``listen``; yields its base URL (None for an empty ``listen``)."""
    if not listen:
        yield None
        return
    host, port = split_listen(listen, "http_listen")
    context = tls_context(tls) if tls is not None else None
    try:
        server = _Server((host, port), matcher, context, max_body=max_body,
                         max_connections=max_connections, handshake_timeout=handshake_timeout,
                         idle_timeout=idle_timeout)  # fmt: skip
    except OSError as e:
        raise ConfigError(f"cannot bind http_listen {listen}: {e.strerror or e}") from e
    with serving_in_thread(server, "http"):
        shown = f"[{host}]" if ":" in host else host
        url = f"{'https' if context else 'http'}://{shown}:{server.server_address[1]}"
        log.info("JSON API on %s (POST /v1/check, /v1/check-batch, /v1/verdict)%s", url,
                 " with client certificates" if context else "")  # fmt: skip
        yield url
