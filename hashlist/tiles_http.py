"""HTTPS GETs for the tiles client: bounded, retried, with the node's client certificate.

``HttpsFetcher.get(url, limit=...)`` answers the body of a ``200`` or raises
exactly one typed error:

=========================  ================================================
``PermissionDeniedError``  401 or 403 (and 400, 495, 496: what nginx answers
                           a client certificate it cannot verify)
``NotFoundError``          404 or 410
``UnavailableError``       connection, TLS and timeout failures, an attempt
                           over its deadline, 408, 425, 429 and 5xx, once the
                           retries are spent; a server certificate that does
                           not verify (not retried)
``TileError``              a body over ``limit``, a broken or unknown content
                           encoding, a redirect that is not to https, any
                           other status
=========================  ================================================

Invariants:

* never more than ``limit`` bytes are held, before (``limit`` plus gzip's
  overhead) or after gzip decoding, whatever the server claims or sends;
* a request carries the method, the path, ``Host``, ``Accept-Encoding`` and,
  when asked, ``Cache-Control: no-cache``: no user agent, no cookie, nothing
  else; the client certificate goes in the TLS handshake;
* redirects (a URL signer answering with a short-lived object-store URL) are
  followed only to ``https`` URLs, at most ``MAX_REDIRECTS`` times;
* an attempt (connecting, the TLS handshake, the headers, the body, and the
  redirects it follows) ends by its deadline, ``timeout`` plus the time the
  largest allowed body takes at ``min_rate`` bytes per second, whatever the
  server sends: ``timeout`` alone bounds each socket read, and a server
  dripping a byte per read would otherwise hold the fetcher (and the node's
  one sync thread) for as long as it likes;
* 403 and 404 are never retried; connections are kept alive and reused, at
  most ``max_connections`` of them (the least recently used is closed), since
  redirects may name any number of hosts.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from hashlist.errors import ConfigError, NotFoundError, PermissionDeniedError, UnavailableError
from hashlist.retry import Backoff
from hashlist.tiles import TileError

MAX_REDIRECTS = 3
_RETRIED = frozenset({408, 425, 429, 500, 502, 503, 504})
_DENIED = frozenset({400, 401, 403, 495, 496})
_ABSENT = frozenset({404, 410})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ERROR_BODY = 64 * 1024  # read (and drop) an error page up to this, to reuse the connection
_CHUNK = 64 * 1024  # one read of the body, at most
MIN_BYTES_PER_SECOND = 128 * 1024
"""The slowest transfer waited for: a full entry bundle (16.8 MB) gets about two minutes
on top of ``timeout``, a checkpoint about ``timeout``."""
MAX_CONNECTIONS = 8


@dataclass(frozen=True)
class TlsFiles:
    """The client certificate and key presented, and the CA the server is checked
    against (``None``: the system's trust store)."""

    cert: Path
    key: Path
    ca: Path | None


def tls_context(files: TlsFiles) -> ssl.SSLContext:
    try:
        if files.ca is None:
            context = ssl.create_default_context()
        else:
            context = ssl.create_default_context(cafile=str(files.ca))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(files.cert, files.key)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"cannot load the TLS files for the tiles: {e}") from e
    return context


class _TransientError(Exception):
    """A failure worth trying again (the connection, a timeout, a 5xx)."""


class HttpsFetcher:
    def __init__(
        self,
        context: ssl.SSLContext,
        *,
        timeout: float,
        backoff: Backoff,
        sleep: Callable[[float], None] = time.sleep,
        min_rate: float = MIN_BYTES_PER_SECOND,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.context, self.timeout, self.backoff, self._sleep = context, timeout, backoff, sleep
        self.min_rate, self.max_connections = min_rate, max_connections
        # Least recently used first: a reused connection moves to the end.
        self._connections: dict[tuple[str, int], http.client.HTTPSConnection] = {}
        self._lock = threading.Lock()  # one request at a time per fetcher

    def deadline_seconds(self, limit: int) -> float:
        """How long one attempt at a body of up to ``limit`` bytes may take in all."""
        return self.timeout + _wire_limit(limit) / self.min_rate

    def get(self, url: str, *, limit: int, no_cache: bool = False) -> bytes:
        """The body of ``url`` (at most ``limit`` bytes, decoded), after retries."""
        problem = "no attempt made"
        with self._lock:
            for attempt in range(self.backoff.attempts):
                deadline = time.monotonic() + self.deadline_seconds(limit)
                try:
                    return self._follow(url, limit, no_cache, deadline)
                except _TransientError as e:
                    problem = str(e)
                if attempt + 1 < self.backoff.attempts:
                    self._sleep(self.backoff.delay(attempt))
        raise UnavailableError(f"{_shown(url)}: {problem}")

    def close(self) -> None:
        with self._lock:
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()

    def _follow(self, url: str, limit: int, no_cache: bool, deadline: float) -> bytes:
        for _ in range(MAX_REDIRECTS + 1):
            status, location, encoding, body = self._exchange(url, limit, no_cache, deadline)
            if status == 200:
                return _decoded(url, encoding, body, limit)
            if status in _REDIRECTS and location:
                target = urljoin(url, location)
                if urlsplit(target).scheme != "https":
                    raise TileError(f"{_shown(url)} redirects to a URL that is not https")
                url = target
                continue
            if status in _DENIED:
                raise PermissionDeniedError(f"{_shown(url)}: HTTP {status}: this node's "
                                            "certificate is not allowed to read it")  # fmt: skip
            if status in _ABSENT:
                raise NotFoundError(f"{_shown(url)}: HTTP {status}: not there")
            if status in _RETRIED:
                raise _TransientError(f"HTTP {status}")
            raise TileError(f"{_shown(url)}: unexpected HTTP status {status}")
        raise TileError(f"{_shown(url)}: more than {MAX_REDIRECTS} redirects")

    def _exchange(
        self, url: str, limit: int, no_cache: bool, deadline: float
    ) -> tuple[int, str, str, bytes]:
        """One request: (status, Location, Content-Encoding, the body as sent, bounded)."""
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise TileError(f"{_shown(url)} is not an https URL")
        key = (parts.hostname, parts.port or 443)
        connection = self._connection(key)
        watchdog = _Watchdog(connection, deadline)
        try:
            return self._request(
                connection, key, url, limit=limit, no_cache=no_cache, deadline=deadline
            )
        finally:
            if watchdog.stop():  # it cut the socket: whatever was read, the attempt is over
                self._drop(key)
                raise _TransientError(f"over the deadline of {self.deadline_seconds(limit):.0f} "
                                      "s for the request")  # fmt: skip

    def _connection(self, key: tuple[str, int]) -> http.client.HTTPSConnection:
        """The kept-alive connection to ``key`` (a new one if none), now the most recently
        used; the least recently used ones are closed beyond ``max_connections``."""
        connection = self._connections.pop(key, None)
        if connection is None:
            connection = http.client.HTTPSConnection(
                key[0], key[1], timeout=self.timeout, context=self.context
            )
        self._connections[key] = connection
        while len(self._connections) > max(1, self.max_connections):
            self._drop(next(iter(self._connections)))
        return connection

    def _request(
        self,
        connection: http.client.HTTPSConnection,
        key: tuple[str, int],
        url: str,
        *,
        limit: int,
        no_cache: bool,
        deadline: float,
    ) -> tuple[int, str, str, bytes]:
        headers = {"Accept-Encoding": "gzip, identity"}
        if no_cache:
            headers["Cache-Control"] = "no-cache"  # the checkpoint changes in place
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            bound = _wire_limit(limit) if response.status == 200 else _ERROR_BODY
            body, complete = _read(response, bound, deadline)
            if response.status == 200 and not complete:
                raise TileError(f"{_shown(url)}: more than {limit:,} bytes")
            if not complete or response.will_close:
                self._drop(key)
            return (response.status, response.getheader("Location") or "",
                    response.getheader("Content-Encoding") or "", body)  # fmt: skip
        except ssl.SSLCertVerificationError as e:
            self._drop(key)
            raise UnavailableError(f"{_shown(url)}: the server's certificate does not "
                                   f"verify: {e.verify_message}") from e  # fmt: skip
        except (TileError, _TransientError):
            self._drop(key)
            raise
        except (OSError, http.client.HTTPException) as e:
            self._drop(key)
            raise _TransientError(f"{type(e).__name__}: {e}") from e

    def _drop(self, key: tuple[str, int]) -> None:
        connection = self._connections.pop(key, None)
        if connection is not None:
            connection.close()


class _Watchdog:
    """Cuts a connection's socket at ``deadline``, unless stopped first.

    ``timeout`` bounds each socket read, not a request: ``http.client`` reads
    the status line and the headers in loops of reads, so a server sending one
    byte per read is stopped only by cutting the socket under it (from this
    timer's thread; the blocked read then fails, and the attempt with it)."""

    def __init__(self, connection: http.client.HTTPSConnection, deadline: float) -> None:
        self._connection, self._fired, self._stopped = connection, False, False
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._fired = True
            sock = self._connection.sock
        if sock is not None:
            # The plain socket's shutdown, not SSLSocket's: that one also drops its TLS
            # state under the reading thread's feet. Already closed: nothing left to cut.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def stop(self) -> bool:
        """Stop the timer; whether it had fired (the connection is then unusable)."""
        with self._lock:
            self._stopped = True
            self._timer.cancel()
            return self._fired


def _read(response: http.client.HTTPResponse, bound: int, deadline: float) -> tuple[bytes, bool]:
    """At most ``bound`` bytes of the body, and whether that was all of it; read in
    pieces of one socket read each, the deadline checked between them."""
    length = response.getheader("Content-Length")
    if length is not None and length.isdigit() and int(length) > bound:
        return b"", False
    pieces, held = [], 0
    while held <= bound:
        if time.monotonic() > deadline:
            raise _TransientError("over the deadline for the request")
        piece = response.read1(min(_CHUNK, bound + 1 - held))
        if not piece:
            break
        pieces.append(piece)
        held += len(piece)
    # ``read1`` leaves a body read to its end open; closed, the connection serves again.
    response.close()
    data = b"".join(pieces)
    if len(data) > bound:
        return data[:bound], False
    return data, True


def _wire_limit(limit: int) -> int:
    """What a body of ``limit`` bytes may take on the wire: gzip can grow
    incompressible data by a few bytes per block, plus its header and trailer."""
    return limit + limit // 1000 + 1024


def _decoded(url: str, encoding: str, body: bytes, limit: int) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        if len(body) > limit:
            raise TileError(f"{_shown(url)}: more than {limit:,} bytes")
        return body
    if encoding != "gzip":
        raise TileError(f"{_shown(url)}: unknown content encoding {encoding[:30]!r}")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as e:
        raise TileError(f"{_shown(url)}: broken gzip body: {e}") from e
    if len(out) > limit or inflater.unconsumed_tail:
        raise TileError(f"{_shown(url)}: decodes to more than {limit:,} bytes")
    if not inflater.eof or inflater.unused_data:
        raise TileError(f"{_shown(url)}: a gzip body that is truncated or has trailing bytes")
    return out


def _shown(url: str) -> str:
    """The URL for a message, without its query (a signed URL's signature)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"[:300]


__all__ = [
    "MAX_CONNECTIONS",
    "MAX_REDIRECTS",
    "MIN_BYTES_PER_SECOND",
    "HttpsFetcher",
    "TlsFiles",
    "tls_context",
]
