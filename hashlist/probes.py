"""Metrics and health probes over plain HTTP: what Prometheus and Kubernetes read.

``serving_probes(listen, registry, readiness)`` serves, on ``listen``
(``host:port``; port 0 picks a free one, see ``Probes.port``):

- ``GET /metrics``: ``registry`` in the Prometheus text format;
- ``GET /livez``: 200 while the process serves HTTP at all;
- ``GET /readyz``: 200 when ``readiness()`` returns ``""``, else 503 with the
  one-line reason it returned.

Invariants: only these three paths and only GET/HEAD are answered (404 and
405 otherwise); the answers carry counts and states, never a hash, a content
id or a key; a readiness check that raises is "not ready" with a fixed reason
(the exception is logged), never a traceback sent to the prober. The
endpoint has no TLS and no authentication: bind it to loopback or to a
network only Prometheus and the kubelet reach.
"""

from __future__ import annotations

import logging
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from hashlist.errors import ConfigError

log = logging.getLogger(__name__)

Readiness = Callable[[], str]
"""Returns "" when ready, else why not, in one line."""


def daemon_registry() -> CollectorRegistry:
    """A registry of one daemon's own, with the process's series (``process_*``: CPU,
    memory, open file descriptors) and the interpreter's."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


@dataclass(frozen=True)
class Probes:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def split_listen(listen: str, key: str = "metrics_listen") -> tuple[str, int]:
    """``host:port`` (``[::1]:port`` too) of the config key ``key``, or ``ConfigError``."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{key} {listen!r} is not host:port")
    return host.strip("[]"), int(port)


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def is_loopback(listen: str) -> bool:
    """Whether ``host:port`` names this host only (what a listener without TLS may bind)."""
    host, sep, port = listen.rpartition(":")
    return bool(sep) and host in LOOPBACK_HOSTS and port.isdigit()


@contextmanager
def serving_probes(
    listen: str, registry: CollectorRegistry, readiness: Readiness
) -> Iterator[Probes | None]:
    """Serve the probes on ``listen`` (yields where); an empty ``listen`` serves none."""
    if not listen:
        yield None
        return
    host, port = split_listen(listen)

    class Handler(BaseHTTPRequestHandler):
        server_version = "hashlist"
        sys_version = ""

        def do_GET(self) -> None:
            self._answer(head=False)

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def _answer(self, *, head: bool) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST, head)
            elif path == "/livez":
                self._send(200, b"ok\n", "text/plain; charset=utf-8", head)
            elif path == "/readyz":
                reason = _ask(readiness)
                code, body = (200, "ready") if not reason else (503, f"not ready: {reason}")
                self._send(code, f"{body}\n".encode(), "text/plain; charset=utf-8", head)
            else:
                self._send(404, b"not found: /metrics, /livez, /readyz\n", "text/plain", head)

        def _send(self, code: int, body: bytes, kind: str, head: bool) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("probe %s", format % args)

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as e:
        raise ConfigError(f"cannot bind metrics_listen {listen}: {e.strerror or e}") from e
    server.daemon_threads = True
    with serving_in_thread(server, "probes"):
        probes = Probes(host, server.server_address[1])
        log.info("metrics and probes on %s (/metrics, /livez, /readyz)", probes.url)
        yield probes


@contextmanager
def serving_in_thread(server: socketserver.BaseServer, name: str) -> Iterator[None]:
    """Run ``server.serve_forever`` in a thread of its own until the block ends; then
    stop it, close its socket and wait (a few seconds at most) for the thread."""
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _ask(readiness: Readiness) -> str:
    try:
        return readiness()
    except Exception:
        log.exception("readiness check failed")
        return "the readiness check itself failed; see the log"
