"""Test support for the static tiles: a real nginx serving them, and a tile writer.

``running_nginx`` starts Debian's nginx on a free loopback port with the very
site config the project ships (``deploy/nginx/hashlist-tiles.conf``, its
paths swapped for the test's), in its own prefix directory (``daemon off``,
pid, logs and temporary files under the test's folder). Run as root (CI),
nginx's workers would drop to ``nobody`` and could not read pytest's private
temporary folders: the test config keeps them as root. Without nginx the
tests skip, except under ``CI=true`` where they fail (``make tools`` installs it).

``write_tiles`` lays out a log the way the hub's ``tiles_dir`` does, from its
leaves and signed checkpoint (``hashlist.tiles``): for tests that tamper
with tiles or need a log without a hub.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from hashlist.merkle import MerkleTree
from hashlist.tiles import CHECKPOINT, ENTRIES, TILE_HEIGHT, encode_bundle, tiles_between

SITE = Path(__file__).resolve().parents[1] / "deploy" / "nginx" / "hashlist-tiles.conf"


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is missing: `make tools` installs Debian's nginx package")
        pytest.skip("nginx is not installed (`make tools` installs it)")
    return found


@dataclass
class Nginx:
    binary: str
    prefix: Path
    conf: Path
    port: int
    access: Path  # the include ``hashlist hub tiles-access --nginx`` writes
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def reload(self) -> None:
        """``nginx -s reload``: the new access map applies to the next connections."""
        subprocess.run([self.binary, "-p", str(self.prefix), "-c", str(self.conf), "-s",
                        "reload"], check=True, capture_output=True, timeout=30)  # fmt: skip

    def log(self) -> str:
        return (self.prefix / "error.log").read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _site(root: Path, pki: Path, access: Path, port: int) -> str:
    """The shipped site config with the test's paths and port in place of the examples."""
    text = SITE.read_text()
    swaps = {
        "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
        "/etc/hashlist/tiles-access.conf": str(access),
        "/etc/hashlist/tiles.pem": str(pki / "hub.pem"),  # a server certificate of the CA
        "/etc/hashlist/tiles.key": str(pki / "hub.key"),
        "/etc/hashlist/ca.pem": str(pki / "ca.pem"),
        "/var/lib/hashlist/tiles": str(root),
    }
    for example, real in swaps.items():
        assert example in text, f"{SITE.name} no longer says {example!r}"
        text = text.replace(example, real)
    return text


@contextmanager
def running_nginx(folder: Path, root: Path, pki: Path) -> Iterator[Nginx]:
    """nginx serving ``root`` as the hub's tiles with the shipped config; the access map
    starts empty (nobody may read entries) until the test writes it and reloads."""
    binary = nginx_binary()
    folder.mkdir(parents=True, exist_ok=True)
    access = folder / "tiles-access.conf"
    access.write_text('map "" $hashlist_granted { default 0; }\n'
                      'map "" $hashlist_revoked { default 0; }\n')  # fmt: skip
    temp = folder / "temp"
    temp.mkdir(exist_ok=True)
    for attempt in range(3):  # a free port can be taken before nginx binds it
        port = _free_port()
        (folder / "site.conf").write_text(_site(root, pki, access, port))
        conf = folder / "nginx.conf"
        conf.write_text("\n".join([
            "daemon off;", "worker_processes 1;",
            *(["user root root;"] if os.geteuid() == 0 else []),
            f"pid {folder / 'nginx.pid'};", f"error_log {folder / 'error.log'} info;",
            "events { worker_connections 256; }",
            "http {",
            f"  access_log {folder / 'access.log'};",
            *(f"  {kind}_temp_path {temp / kind};"
              for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")),
            f"  include {folder / 'site.conf'};",
            "}", "",
        ]))  # fmt: skip
        server = Nginx(binary, folder, conf, port, access)
        with (folder / "stderr.log").open("ab") as stderr:  # nginx keeps its own copy
            server.process = subprocess.Popen(
                [binary, "-p", str(folder), "-c", str(conf)],
                stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        if _wait_listening(server):
            break
        _stop(server)
        if attempt == 2 or "Address already in use" not in server.log():
            raise RuntimeError(f"nginx did not start:\n{server.log()[-3000:]}")
    try:
        yield server
    finally:
        _stop(server)


def _wait_listening(server: Nginx, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.process is not None
        if server.process.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def _stop(server: Nginx) -> None:
    process = server.process
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)  # fast shutdown of the master and its workers
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def https_status(url: str, pki: Path, who: str | None = None) -> int:
    """The HTTP status of a plain GET of ``url``, as ``who`` (a certificate in ``pki``)
    or with no certificate."""
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if who is not None:
        context.load_cert_chain(pki / f"{who}.pem", pki / f"{who}.key")
    try:
        with urllib.request.urlopen(url, context=context, timeout=10) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def write_tiles(root: Path, list_id: str, leaves: Sequence[bytes], note: bytes) -> Path:
    """Lay out a log of ``leaves`` with its signed checkpoint ``note`` under
    ``root/list_id`` as the hub's ``tiles_dir`` does; returns that folder."""
    folder = root / list_id
    tree = MerkleTree()
    for leaf in leaves:
        tree.append(leaf)
    for tile in tiles_between(0, len(leaves)):
        if tile.level == ENTRIES:
            first = tile.index * 256
            data = encode_bundle(leaves[first : first + tile.width])
        else:
            height = TILE_HEIGHT * tile.level
            data = b"".join(tree.node(height, tile.index * 256 + i) for i in range(tile.width))
        path = folder / tile.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (folder / CHECKPOINT).write_bytes(note)
    return folder
