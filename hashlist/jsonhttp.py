"""A small, hardened JSON-over-HTTP(S) server: routes in, bounded work out.

The node's JSON API and the public intake both serve through this, each with
its own routes (``Route``: a method, a path pattern and a handler taking a
``Request`` and returning a ``Response``).

Invariants:

* An error is ``{"error": {"code", "message"}}`` with the HTTP status of its
  gRPC code (``HTTP_STATUS``), the message as ``hashlist.rpc`` would send it,
  details logged and never sent; an unexpected exception is a 500 with a
  reference, never a traceback. http.server's own refusals use the same body.
* With ``tls``, the handshake runs in the connection's own thread under
  ``handshake_timeout``, so a silent peer never blocks accepting; whether a
  client certificate is required is the context's to say.
* At most ``max_connections`` are open at once (more are closed as
  accepted); bodies over ``max_body`` are refused before they are read, and
  a body must arrive whole within ``body_seconds`` (a peer dripping a byte at
  a time holds a thread no longer); at most ``working`` requests are handled
  at once. Reads time out after ``idle_timeout``.
* ``render_error`` (a server for browsers) renders every error as a page instead,
  with the same status and message.
* No client address is logged. Handlers see it (``Request.client``) for
  in-memory rate limits only. ``observe`` is told (route, status) of every
  answer, for metrics.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hashlist.errors import ConfigError, HashlistError, InputError
from hashlist.probes import serving_in_thread, split_listen
from hashlist.rpc import public_error

log = logging.getLogger(__name__)

HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "FAILED_PRECONDITION": 409,
    "RESOURCE_EXHAUSTED": 429,
    "UNAVAILABLE": 503,
}
"""gRPC status code name -> HTTP status; any other code is the server's fault (500)."""
_REFUSAL_CODES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND",
                  405: "INVALID_ARGUMENT", 408: "UNAVAILABLE", 411: "INVALID_ARGUMENT",
                  413: "RESOURCE_EXHAUSTED", 415: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED",
                  503: "UNAVAILABLE"}  # fmt: skip


_JSON, _FORM = "application/json", "application/x-www-form-urlencoded"


class HttpRefusedError(Exception):
    """An HTTP-level refusal (method, size, media type, rate) with its status."""

    def __init__(self, status: int, message: str, *, headers: Sequence[tuple[str, str]] = ()):
        super().__init__(message)
        self.status, self.headers = status, tuple(headers)


@dataclass(frozen=True)
class Request:
    method: str
    route: str  # the route's name, for logs
    params: dict[str, str]  # the pattern's named groups
    headers: Message
    body: bytes
    client: str  # the peer's address: for in-memory rate limits only, never logged
    query: str = ""  # after the path's "?", as sent

    def json(self) -> object:
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
            raise InputError(f"the body is not JSON: {str(e)[:200]}") from e


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def json_response(status: int, obj: object, headers: Sequence[tuple[str, str]] = ()) -> Response:
    return Response(status, json.dumps(obj).encode(), headers=tuple(headers))


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # a regular expression the whole path must match
    handler: Callable[[Request], Response]
    name: str = ""
    json_body: bool = False  # a JSON body is required (Content-Type, Content-Length)
    form_body: bool = False  # ... or an HTML form's (application/x-www-form-urlencoded)
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", re.compile(self.pattern))

    def match(self, path: str) -> dict[str, str] | None:
        found = self._compiled.fullmatch(path)
        return None if found is None else found.groupdict()


class _Handler(BaseHTTPRequestHandler):
    server: JsonServer
    protocol_version = "HTTP/1.1"  # keep-alive: a client may reuse its connection
    server_version = "hashlist"
    sys_version = ""

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        path, _, query = getattr(self, "path", "").partition("?")  # unset on a malformed line
        matched = [(r, p) for r in self.server.routes if (p := r.match(path)) is not None]
        name = matched[0][0].name or matched[0][0].pattern if matched else "(other)"
        self._route_name, self._body_read = name, False
        try:
            if not matched:
                raise HttpRefusedError(404, f"no such path: {self.server.paths_help}")
            method = "GET" if self.command == "HEAD" else self.command
            found = [(r, p) for r, p in matched if r.method == method]
            if not found:
                allow = ", ".join(sorted({r.method for r, _ in matched}))
                raise HttpRefusedError(405, f"{path} takes {allow}", headers=[("Allow", allow)])
            route, params = found[0]
            kind = _JSON if route.json_body else _FORM if route.form_body else ""
            body = self._body(kind) if kind else b""
            client = str(self.client_address[0]) if self.client_address else ""
            request = Request(self.command, name, params, self.headers, body, client, query)
            with self.server.working:  # parsing and answering: a few requests at a time
                self._send(route.handler(request))
        except HttpRefusedError as e:
            self._error(e.status, _REFUSAL_CODES.get(e.status, "INVALID_ARGUMENT"), str(e),
                        e.headers)  # fmt: skip
        except HashlistError as e:
            code, message = public_error(e, f"HTTP {name}")
            self._error(HTTP_STATUS.get(code.name, 500), code.name, message)
        except Exception:
            reference = secrets.token_hex(4)
            log.exception("HTTP %s: internal error (reference %s)", name, reference)
            self._error(500, "INTERNAL", f"internal error; the {self.server.operator} has the "
                                         f"details (reference {reference})")  # fmt: skip

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (an unknown method, headers too long) in our body."""
        self.close_connection = True
        known = {501: "NOT_FOUND", 431: "INVALID_ARGUMENT", 414: "INVALID_ARGUMENT"}
        self._error(code, known.get(code, "INVALID_ARGUMENT"), message or "bad request")

    def _body(self, expected: str) -> bytes:
        kind = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if kind != expected:
            raise HttpRefusedError(415, f"send the body as Content-Type: {expected}")
        length = self.headers.get("Content-Length", "")
        if not (length.isascii() and length.isdigit()):
            raise HttpRefusedError(411, "a Content-Length (decimal digits) is required")
        if len(length) > 18 or int(length) > self.server.max_body:  # int() of 5,000 digits fails
            size = f"{int(length):,} bytes" if len(length) <= 18 else f"{len(length)} digits long"
            raise HttpRefusedError(413, f"the body is {size}; at most "
                                   f"{self.server.max_body:,} bytes are accepted")  # fmt: skip
        deadline, parts, left = time.monotonic() + self.server.body_seconds, [], int(length)
        while left:
            part = self.rfile.read1(min(left, 1 << 20))
            if not part or time.monotonic() > deadline:
                raise HttpRefusedError(408, "the body did not arrive in time")
            parts.append(part)
            left -= len(part)
        self._body_read = True
        return b"".join(parts)

    def _body_unread(self) -> bool:
        """A body was sent that was not read: the connection cannot carry another request
        (what follows would be read as one: request smuggling behind a proxy)."""
        headers = getattr(self, "headers", None)
        if headers is None or getattr(self, "_body_read", False):
            return False
        return headers.get("Content-Length", "0").strip() not in ("", "0") or bool(
            headers.get("Transfer-Encoding")
        )

    def _error(self, status: int, code: str, message: str,
               headers: Sequence[tuple[str, str]] = ()) -> None:  # fmt: skip
        if self.server.render_error is not None:
            page = self.server.render_error(status, message)
            self._send(Response(page.status, page.body, page.content_type,
                                (*page.headers, *headers)))  # fmt: skip
            return
        body = {"error": {"code": code, "message": message}}
        self._send(json_response(status, body, headers))

    def _send(self, response: Response) -> None:
        if self.server.observe is not None:
            self.server.observe(getattr(self, "_route_name", "(other)"), response.status)
        if self._body_unread():
            self.close_connection = True
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        own = {name.lower() for name, _ in response.headers}  # a response's own header wins
        for name, value in self.server.headers:
            if name.lower() not in own:
                self.send_header(name, value)
        for name, value in response.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = getattr(self, "path", "?")[:80].split("?")[0]
        log.debug("http %s %s: %s", self.command, path, code)  # never the address

    def log_message(self, format: str, *args: object) -> None:
        log.debug("http: %s", format % args)


class JsonServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], routes: Sequence[Route], tls: ssl.SSLContext | None, *,
        max_body: int, max_connections: int, handshake_timeout: float, idle_timeout: float,
        operator: str = "server's operator", working: int = 4,
        headers: Sequence[tuple[str, str]] = (("Cache-Control", "no-store"),),
        observe: Callable[[str, int], None] | None = None,
        render_error: Callable[[int, str], Response] | None = None,
    ) -> None:  # fmt: skip
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.routes, self.tls, self.max_body = tuple(routes), tls, max_body
        self.paths_help = "; ".join(sorted({f"{r.method} {r.name or r.pattern}" for r in routes}))
        self.handshake_timeout, self.idle_timeout = handshake_timeout, idle_timeout
        self.body_seconds = max(idle_timeout, 60.0)
        self.operator, self.headers, self.observe = operator, tuple(headers), observe
        self.render_error = render_error  # (status, message) -> a page, for browsers
        self._slots = threading.BoundedSemaphore(max_connections)
        # Parsed bodies are what cost memory (a JSON array of empty objects is ~25x its
        # bytes in Python): at most this many requests are parsed and answered at once.
        self.working = threading.BoundedSemaphore(working)
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


def browser_headers(csp: str, *, tls: bool, referrer: str = "no-referrer") -> list[tuple[str, str]]:
    """The headers every answer to a browser carries: no caching, no sniffing, the
    Content-Security-Policy ``csp``, no framing, the referrer policy; HSTS under TLS."""
    headers = [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
               ("Referrer-Policy", referrer), ("Content-Security-Policy", csp),
               ("X-Frame-Options", "DENY")]  # fmt: skip
    if tls:
        headers.append(("Strict-Transport-Security", "max-age=31536000"))
    return headers


def server_tls_context(cert: Any, key: Any, client_ca: Any | None, what: str) -> ssl.SSLContext:
    """TLS 1.2+ with ``cert``/``key``; with ``client_ca``, clients must present one of its
    certificates."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_RENEGOTIATION
    try:
        context.load_cert_chain(cert, key)
        if client_ca is not None:
            context.load_verify_locations(cafile=client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"cannot load the {what}'s TLS files: {e}") from e
    return context


@contextmanager
def serving_json(
    listen: str, what: str, make: Callable[[tuple[str, int]], JsonServer]
) -> Iterator[tuple[JsonServer, str]]:
    """Bind ``make((host, port))`` on ``listen`` and serve it in a thread; yields the
    server and its base URL."""
    host, port = split_listen(listen, what)
    try:
        server = make((host, port))
    except OSError as e:
        raise ConfigError(f"cannot bind {what} {listen}: {e.strerror or e}") from e
    with serving_in_thread(server, what):
        shown = f"[{host}]" if ":" in host else host
        yield server, f"{'https' if server.tls else 'http'}://{shown}:{server.server_address[1]}"
