"""The tiles client over real HTTPS (a scripted server on loopback): what it sends, how it
retries, what it refuses, and the typed error of each failure."""

from __future__ import annotations

import contextlib
import gzip
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hashlist.devpki import DevCA
from hashlist.errors import ConfigError, NotFoundError, PermissionDeniedError, UnavailableError
from hashlist.identity import Role
from hashlist.retry import Backoff
from hashlist.tiles import ENTRIES, MAX_BUNDLE_BYTES, Tile, TileError, encode_bundle
from hashlist.tiles_client import MAX_CHECKPOINT_BYTES, TilesClient, TlsFiles, check_base_url
from hashlist.tiles_http import HttpsFetcher, tls_context
from node.config import NodeConfig

Answer = tuple[int, dict[str, str], bytes]
BUNDLE = Tile(ENTRIES, 0, 3)
LEAVES = [b"one", b"two" * 100, b""]


class Script:
    """What the server answers, per path, in order (the last answer repeats), and what
    it was asked."""

    def __init__(self) -> None:
        self.answers: dict[str, list[Answer]] = {}
        self.requests: list[tuple[str, dict[str, str], str]] = []  # path, headers, client CN

    def on(self, path: str, *answers: Answer) -> None:
        self.answers[path] = list(answers)

    def next(self, path: str) -> Answer:
        queue = self.answers.get(path, [(404, {}, b"")])
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def served(pki: Path) -> Iterator[tuple[Script, str]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            peer = self.connection.getpeercert()
            cn = dict(x[0] for x in peer["subject"])["commonName"] if peer else ""
            script.requests.append((self.path, dict(self.headers.items()), cn))
            status, headers, body = script.next(self.path)
            self.send_response(status)
            for k, v in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
    context.load_cert_chain(pki / "hub.pem", pki / "hub.key")
    context.verify_mode = ssl.CERT_REQUIRED
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield script, f"https://127.0.0.1:{server.server_address[1]}/lists/"
    finally:
        server.shutdown()
        server.server_close()


def _client(pki: Path, url: str, *, ca: Path | None = None) -> TilesClient:
    tls = TlsFiles(pki / "facebook.pem", pki / "facebook.key", ca or pki / "ca.pem")
    return TilesClient(url, tls, timeout=5, backoff=Backoff(0.001, 0.002, 3))


def test_what_a_node_sends_is_its_certificate_and_the_path(
    served: tuple[Script, str], pki: Path
) -> None:
    script, url = served
    script.on("/lists/takeitdown/checkpoint", (200, {}, b"note"))
    script.on("/lists/takeitdown/tile/entries/000.p/3", (200, {}, encode_bundle(LEAVES)))
    with _client(pki, url) as tiles:
        assert tiles.checkpoint("takeitdown") == b"note"
        assert tiles.entries("takeitdown", BUNDLE) == LEAVES
    (_, checkpoint, cn), (_, bundle, _) = script.requests
    assert cn == "facebook"  # the same certificate as for the hub
    assert checkpoint == {"Host": checkpoint["Host"], "Accept-Encoding": "gzip, identity",
                          "Cache-Control": "no-cache"}  # fmt: skip
    assert set(bundle) == {"Host", "Accept-Encoding"}  # immutable: caches may keep it


def test_unavailable_is_retried_and_refusals_are_not(served: tuple[Script, str], pki: Path) -> None:
    script, url = served
    script.on("/lists/a/checkpoint", (503, {}, b""), (502, {}, b""), (200, {}, b"note"))
    script.on("/lists/b/checkpoint", (403, {}, b"no"))
    script.on("/lists/c/checkpoint", (500, {}, b""))
    with _client(pki, url) as tiles:
        assert tiles.checkpoint("a") == b"note"
        assert len(script.requests) == 3
        with pytest.raises(PermissionDeniedError, match="HTTP 403"):
            tiles.checkpoint("b")
        with pytest.raises(NotFoundError, match="HTTP 404"):
            tiles.checkpoint("nothing")
        assert len(script.requests) == 5  # once each
        with pytest.raises(UnavailableError, match="HTTP 500"):
            tiles.checkpoint("c")
        assert len(script.requests) == 8  # every attempt


def test_oversized_and_malformed_answers_are_refused(served: tuple[Script, str], pki: Path) -> None:
    script, url = served
    bomb = gzip.compress(b"\0" * (MAX_CHECKPOINT_BYTES + 1))  # small on the wire
    script.on("/lists/big/checkpoint", (200, {}, b"x" * (MAX_CHECKPOINT_BYTES + 1)))
    script.on("/lists/bomb/checkpoint", (200, {"Content-Encoding": "gzip"}, bomb))
    script.on("/lists/broken/checkpoint", (200, {"Content-Encoding": "gzip"}, b"\x1f\x8bnope"))
    script.on("/lists/br/checkpoint", (200, {"Content-Encoding": "br"}, b"x"))
    script.on("/lists/teapot/checkpoint", (418, {}, b""))
    script.on("/lists/short/tile/entries/000.p/3", (200, {}, encode_bundle(LEAVES[:2])))
    with _client(pki, url) as tiles:
        for name, why in [("big", "more than"), ("bomb", "decodes to more than"),
                          ("broken", "gzip"), ("br", "unknown content encoding"),
                          ("teapot", "unexpected HTTP status 418")]:  # fmt: skip
            with pytest.raises(TileError, match=why):
                tiles.checkpoint(name)
        with pytest.raises(TileError, match="holds 2 entries, not 3"):
            tiles.entries("short", BUNDLE)
        # After all that, the connection still serves.
        script.on("/lists/ok/checkpoint", (200, {"Content-Encoding": "gzip"}, gzip.compress(b"n")))
        assert tiles.checkpoint("ok") == b"n"
    assert MAX_BUNDLE_BYTES > MAX_CHECKPOINT_BYTES


def test_redirects_are_followed_to_https_only(served: tuple[Script, str], pki: Path) -> None:
    script, url = served
    signed = "/bucket/a/tile/entries/000.p/3?signature=abc"
    script.on("/lists/a/tile/entries/000.p/3", (302, {"Location": signed}, b""))
    script.on(signed, (200, {}, encode_bundle(LEAVES)))
    script.on("/lists/b/checkpoint", (302, {"Location": "http://127.0.0.1:1/x"}, b""))
    script.on("/lists/c/checkpoint", (307, {"Location": "/lists/c/checkpoint"}, b""))
    with _client(pki, url) as tiles:
        assert tiles.entries("a", BUNDLE) == LEAVES
        with pytest.raises(TileError, match="not https"):
            tiles.checkpoint("b")
        with pytest.raises(TileError, match="more than 3 redirects"):
            tiles.checkpoint("c")


def test_a_server_the_ca_did_not_certify_is_not_trusted(
    served: tuple[Script, str], pki: Path, tmp_path: Path
) -> None:
    script, url = served
    other = DevCA("someone else")
    (tmp_path / "other.pem").write_bytes(other.cert_pem)
    with (
        _client(pki, url, ca=tmp_path / "other.pem") as tiles,
        pytest.raises(UnavailableError, match="does not verify"),
    ):
        tiles.checkpoint("takeitdown")
    assert script.requests == []  # nothing was sent
    assert other.issue(Role.PARTNER, "x").cert_pem  # (the CA works: only the trust differs)


@pytest.mark.parametrize(
    "url",
    ["http://tiles.example/lists", "https:///lists", "https://u:p@tiles.example/",
     "https://tiles.example/?token=1", "https://tiles.example:port/"],
)  # fmt: skip
def test_a_base_url_must_be_plain_https(url: str) -> None:
    with pytest.raises(ConfigError, match="tiles_url"):
        check_base_url(url)


def test_node_config_tiles_settings(tmp_path: Path) -> None:
    base = {"name": "facebook", "hub": "127.0.0.1:1", "trust_root": tmp_path / "t.toml",
            "lists": ("takeitdown",), "database": tmp_path / "n.db",
            "tls_cert": tmp_path / "c.pem", "tls_key": tmp_path / "c.key",
            "ca": tmp_path / "ca.pem"}  # fmt: skip
    config = NodeConfig(**base, tiles_url="https://tiles.example/lists/")  # type: ignore[arg-type]
    assert config.tiles_tls.ca == tmp_path / "ca.pem"  # the hub's CA by default
    system = NodeConfig(**base, tiles_url="https://cdn.example", tiles_system_ca=True)  # type: ignore[arg-type]
    assert system.tiles_tls.ca is None
    with pytest.raises(ConfigError, match="not both"):
        NodeConfig(**base, tiles_ca=tmp_path / "x.pem", tiles_system_ca=True)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="tiles_poll_seconds"):
        NodeConfig(**base, tiles_poll_seconds=0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="https"):
        NodeConfig(**base, tiles_url="http://tiles.example")  # type: ignore[arg-type]


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_server_dripping_bytes_is_cut_off_by_the_deadline(pki: Path, where: str) -> None:
    """One byte every 0.2 s keeps each socket read within ``timeout``: only the deadline of
    the whole request stops it (this server would go on for 20 s, each attempt)."""
    stop = threading.Event()

    class Drip(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n"
            self.wfile.write(head + (b"\r\n" if where == "body" else b"X-Slow: "))
            try:
                for _ in range(100):
                    if stop.wait(0.2):
                        return
                    self.wfile.write(b"x")
                    self.wfile.flush()
            except OSError:
                return  # the client hung up

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
    context.load_cert_chain(pki / "hub.pem", pki / "hub.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tls = TlsFiles(pki / "facebook.pem", pki / "facebook.key", pki / "ca.pem")
    fetcher = HttpsFetcher(tls_context(tls), timeout=1, backoff=Backoff(0.001, 0.002, 2),
                           min_rate=1_000_000)  # fmt: skip
    assert 1 < fetcher.deadline_seconds(MAX_CHECKPOINT_BYTES) < 1.2
    started = time.monotonic()
    try:
        with pytest.raises(UnavailableError, match="over the deadline"):
            fetcher.get(
                f"https://127.0.0.1:{server.server_address[1]}/c", limit=MAX_CHECKPOINT_BYTES
            )
        assert time.monotonic() - started < 4  # two attempts of about 1.1 s each
    finally:
        stop.set()
        fetcher.close()
        server.shutdown()
        server.server_close()


def test_kept_connections_are_bounded(served: tuple[Script, str], pki: Path) -> None:
    script, url = served
    script.on("/n", (200, {}, b"n"))
    port = url.split(":")[2].split("/")[0]
    tls = TlsFiles(pki / "facebook.pem", pki / "facebook.key", pki / "ca.pem")
    fetcher = HttpsFetcher(tls_context(tls), timeout=5, backoff=Backoff(0.001, 0.002, 2),
                           max_connections=1)  # fmt: skip
    with contextlib.closing(fetcher):
        for host in ["127.0.0.1", "localhost", "127.0.0.1"]:  # two hosts to the server
            assert fetcher.get(f"https://{host}:{port}/n", limit=10) == b"n"
            assert len(fetcher._connections) == 1
        kept = fetcher._connections["127.0.0.1", int(port)].sock
        assert fetcher.get(f"https://127.0.0.1:{port}/n", limit=10) == b"n"
        assert fetcher._connections["127.0.0.1", int(port)].sock is kept  # reused
