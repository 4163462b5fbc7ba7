"""The witness's HTTPS server (C2SP tlog-witness ``POST /add-checkpoint``).

``running_witness(config)`` is a context manager that opens the store, binds
(port 0 picks a free one) and yields the bound port; leaving it stops the
server and closes the store. The handler is thin: it bounds and reads the
body, and hands it to ``hashlist.witness.add_checkpoint`` inside the store's
transaction. One extension, outside the protocol, lets auditors gather what
a witness has seen: ``GET /checkpoint/<origin>`` returns the newest note it
cosigned for that origin, with its cosignature.

TLS handshakes happen in the handler threads (not in ``accept``), and every
connection has a read timeout, so a slow client holds one thread, never the
server.
"""

from __future__ import annotations

import logging
import ssl
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import Counter

from hashlist.clock import Clock, SystemClock
from hashlist.errors import (
    ConfigError,
    HashlistError,
    StorageError,
    TrustRootError,
    WitnessConflictError,
)
from hashlist.note import COSIGNATURE_V1
from hashlist.probes import daemon_registry, serving_probes, split_listen
from hashlist.serving import load_signer, stop_on_signal
from hashlist.trustroot import TrustRoot, load_trust_root
from hashlist.witness_protocol import (
    SIZE_CONTENT_TYPE,
    add_checkpoint,
    http_status,
    parse_add_checkpoint,
)
from witness.config import WitnessConfig
from witness.store import WitnessStore

_STORAGE_FAILED = b"the witness's storage failed; its operator has the details\n"
_MAX_DISCARD_BYTES = 1 << 20  # how much of a refused body is read and dropped

log = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], tls: ssl.SSLContext, witness: _Witness) -> None:
        super().__init__(address, _Handler)
        self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self.witness = witness


class _Witness:
    def __init__(self, config: WitnessConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.signer = load_signer(config.key, COSIGNATURE_V1, "witness key")
        self.logs = _load_logs(config)
        self.store = WitnessStore(config.database)
        self.registry = daemon_registry()
        self.cosigned = Counter(
            "hashlist_witness_cosigned", "Checkpoints cosigned, by origin", ["origin"],
            registry=self.registry,
        )  # fmt: skip
        self.refused = Counter(
            "hashlist_witness_refused",
            "Checkpoints refused, by origin and HTTP status (409: a conflict with the last "
            "cosigned, 422: not consistent or badly signed, 500: storage failed)",
            ["origin", "status"], registry=self.registry,
        )  # fmt: skip

    def readiness(self) -> str:
        try:
            self.store.latest("")  # the database answers
        except StorageError as e:
            return f"the database does not answer: {e}"
        return ""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    _origin = ""  # of the request being decided, once parsed

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.witness.config.request_timeout_seconds)

    def handle(self) -> None:
        conn: Any = self.connection
        try:
            conn.do_handshake()
            super().handle()
        except (ssl.SSLError, OSError) as e:  # a client gone, slow or not speaking TLS
            log.info("connection from %s dropped: %s", self.client_address[0], e)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address[0], *args)

    def do_POST(self) -> None:
        if self.path != "/add-checkpoint":
            self._reply(404, b"unknown path: POST /add-checkpoint\n")
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._reply(411, b"Content-Length is required\n")
        elif int(length) > self.server.witness.config.max_request_bytes:
            self.close_connection = True
            self._reply(413, b"request too large\n")
            self._discard(int(length))
        else:
            self._reply(*self._add_checkpoint(self.rfile.read(int(length))))

    def _discard(self, length: int) -> None:
        """Read and drop a refused body, up to a bound, so the client can finish sending
        and read the 413 instead of a reset connection (a lingering close); a larger
        body is cut off."""
        left = min(length, _MAX_DISCARD_BYTES)
        while left > 0:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                return
            left -= len(chunk)

    def _add_checkpoint(self, body: bytes) -> tuple[int, bytes, str]:
        w = self.server.witness
        self._origin = ""
        status, answer, kind = self._decide(body)
        if status == 200:
            w.cosigned.labels(self._origin).inc()
        else:
            # Only origins it has cosigned become label values: a stranger sending
            # made-up origins cannot add series without end.
            known = bool(self._origin) and w.store.latest(self._origin) is not None
            w.refused.labels(self._origin if known else "(other)", str(status)).inc()
        return status, answer, kind

    def _decide(self, body: bytes) -> tuple[int, bytes, str]:
        w = self.server.witness
        try:
            request = parse_add_checkpoint(body)
            origin = request.note.split(b"\n", 1)[0].decode("utf-8", "replace")
            self._origin = origin
            now = w.clock.now()
            cosigned = w.store.decide(
                origin,
                body,
                lambda last: add_checkpoint(
                    request, logs=w.logs, last=last, cosigner=w.signer, now=now
                ),
                now,
            )
        except WitnessConflictError as e:
            return 409, b"%d\n" % e.size, SIZE_CONTENT_TYPE
        except StorageError as e:  # the detail names files: logged, never sent
            log.error("cannot decide a checkpoint: %s", e)
            return 500, _STORAGE_FAILED, "text/plain"
        except HashlistError as e:  # refusals of the request: their text describes it only
            status = http_status(e)
            level = logging.WARNING if status == 422 else logging.INFO
            log.log(level, "refused a checkpoint (%d): %s", status, e)
            return status, f"{e}\n".encode(), "text/plain"
        cp = cosigned.checkpoint
        log.info("cosigned %s at size %d", cp.origin, cp.size)
        return 200, cosigned.signature_line, "text/plain"

    def do_GET(self) -> None:
        prefix = "/checkpoint/"
        origin = urllib.parse.unquote(self.path[len(prefix) :])
        note = self.server.witness.store.latest(origin) if self.path.startswith(prefix) else None
        if note is None:
            self._reply(404, f"no checkpoint cosigned for {origin!r}\n".encode())
        else:
            self._reply(200, note)

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _load_logs(config: WitnessConfig) -> Mapping[str, TrustRoot]:
    logs: dict[str, TrustRoot] = {}
    for path in config.logs:
        trust = load_trust_root(path)
        if trust.hub in logs:
            raise TrustRootError(f"{path}: hub {trust.hub!r} is listed twice in logs")
        logs[trust.hub] = trust
    return logs


@contextmanager
def running_witness(config: WitnessConfig, *, clock: Clock | None = None) -> Iterator[int]:
    witness = _Witness(config, clock or SystemClock())
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        tls.load_cert_chain(config.tls_cert, config.tls_key)
        server = _Server(split_listen(config.listen, "listen"), tls, witness)
    except (OSError, ssl.SSLError) as e:
        witness.store.close()
        raise ConfigError(f"cannot serve on {config.listen}: {e}") from e
    thread = threading.Thread(target=server.serve_forever, name="witness", daemon=True)
    thread.start()
    port = server.server_address[1]
    log.info("witness %s listening on port %d", witness.signer.name, port)
    try:
        with serving_probes(config.metrics_listen, witness.registry, witness.readiness):
            yield port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        witness.store.close()


def serve_forever(config: WitnessConfig) -> None:
    done = stop_on_signal()
    with running_witness(config) as port:
        print(f"hashlist witness listening on port {port}", flush=True)
        done.wait()
