"""The static tiles end to end: a hub process writing them, Debian's nginx serving them
with the shipped site config and the access map ``hashlist hub tiles-access`` writes,
and node processes reading them with their certificates.

Without nginx these skip, except under ``CI=true`` (``tests/tiles_support.py``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hashlist.cli.demo import Federation, random_signals, wait_until
from hashlist.devpki import write_dev_pki
from hashlist.errors import PermissionDeniedError
from hashlist.identity import Role, identity_from_pem
from hashlist.tiles import ENTRIES, Tile
from hashlist.tiles_client import TilesClient, TlsFiles
from node.store import ListRecord, SqliteReplicaReader
from tests.tiles_support import Nginx, https_status, nginx_binary, running_nginx

LIST = "takeitdown"


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    """The dev PKI, and a certificate of the same CA for ``Facebook`` (not ``facebook``)."""
    nginx_binary()  # skip (or fail under CI) before starting anything
    folder = tmp_path / "pki"
    ca = write_dev_pki(folder)
    other = ca.issue(Role.PARTNER, "Facebook")
    (folder / "Facebook.pem").write_bytes(other.cert_pem)
    (folder / "Facebook.key").write_bytes(other.key_pem)
    return folder


def _federation(tmp_path: Path, pki: Path) -> Federation:
    fed = Federation(tmp_path / "fed", pki=pki)
    with (fed.workdir / "hub.toml").open("a") as f:
        f.write('tiles_dir = "tiles"\n')
    return fed


def _allow(fed: Federation, nginx: Nginx) -> str:
    """What the operator runs after a grant or revocation: the map, then a reload if it
    changed; what the command said."""
    c = fed.certs
    said = subprocess.run(
        [sys.executable, "-m", "hashlist.cli", "hub", "tiles-access", "--nginx", str(nginx.access),
         "--hub", f"127.0.0.1:{fed.hub_port}", "--ca", str(c / "ca.pem"),
         "--cert", str(c / "operator.pem"), "--key", str(c / "operator.key")],
        check=True, capture_output=True, timeout=60, text=True,
    ).stdout  # fmt: skip
    if said.startswith("wrote"):
        nginx.reload()
    return said


def _record(fed: Federation, node: str) -> ListRecord:
    replica = SqliteReplicaReader(fed.database(node))
    try:
        return replica.record(LIST)
    finally:
        replica.close()


def test_nginx_serves_entries_to_granted_partners_only(tmp_path: Path, pki: Path) -> None:
    with _federation(tmp_path, pki) as fed:
        fed.start_hub()
        with fed.operator() as op:
            op.create_list(LIST)
            op.grant(LIST, "facebook", new_partner=True)
            op.publish(LIST, random_signals(100, "md5"))  # a bundle nginx gzips
            leaves = [leaf for _, batch in op.leaves(LIST, 0, 1) for leaf in batch]
        with running_nginx(tmp_path / "nginx", fed.workdir / "tiles", pki) as nginx:
            base = f"{nginx.url}/{LIST}"
            entries = f"{base}/tile/entries/000.p/1"
            assert https_status(entries, pki, "facebook") == 403  # no map yet: nobody
            assert _allow(fed, nginx).startswith("wrote")
            assert _allow(fed, nginx).startswith("unchanged")  # nothing to reload
            wait_until(lambda: https_status(entries, pki, "facebook") == 200, 10, "the reload")
            # The checkpoint and the hash tiles are public; the entries are not.
            for path in ("checkpoint", "tile/0/000.p/1"):
                assert https_status(f"{base}/{path}", pki) == 200
            assert https_status(entries, pki) == 403  # no certificate
            assert https_status(entries, pki, "instagram") == 403  # not granted
            assert https_status(entries, pki, "Facebook") == 403  # not that partner
            assert https_status(f"{nginx.url}/", pki) == 404
            assert https_status(f"{base}/tile/entries/000.p/1.tmp", pki, "facebook") == 404
            tls = TlsFiles(pki / "facebook.pem", pki / "facebook.key", pki / "ca.pem")
            with TilesClient(nginx.url, tls) as tiles:
                assert tiles.entries(LIST, Tile(ENTRIES, 0, 1)) == leaves  # gzipped on the way
                # Revoked at the hub (a certificate it never saw: from its audit trail).
                with fed.operator() as op:
                    serial = identity_from_pem((pki / "facebook.pem").read_bytes()).serial
                    assert op.revoke_certificate(serial, reason="a lost laptop")
                _allow(fed, nginx)
                wait_until(lambda: https_status(entries, pki, "facebook") == 403, 10, "revoked")

                def refused() -> bool:  # once the old worker let go of the open connection
                    try:
                        tiles.entries(LIST, Tile(ENTRIES, 0, 1))
                    except PermissionDeniedError:
                        return True
                    return False

                wait_until(refused, 10, "the node's open connection to be refused too")
                assert tiles.checkpoint(LIST).startswith(f"hub.example/lists/{LIST}\n1\n".encode())


def test_nodes_follow_the_tiles_with_the_hub_away_and_refuse_a_tampered_bundle(
    tmp_path: Path, pki: Path
) -> None:
    with _federation(tmp_path, pki) as fed:
        fed.start_hub()
        with fed.operator() as op:
            op.create_list(LIST)
            op.grant(LIST, "facebook", new_partner=True)
            op.publish(LIST, random_signals(50, "md5"))
        with running_nginx(tmp_path / "nginx", fed.workdir / "tiles", pki) as nginx:
            _allow(fed, nginx)
            fed.start_node("facebook", tiles_url=nginx.url, tiles_poll_seconds=0.5)
            fed.wait_all_at(("facebook",), LIST, 1, timeout=60)

            # The hub moves where this node cannot reach it; what it publishes still
            # arrives, through nginx alone.
            fed.stop("hub")
            fed.hub_port = 0
            fed.start_hub()
            with fed.operator() as op:
                op.publish(LIST, random_signals(50, "md5"))
                op.publish(LIST, random_signals(50, "md5"))
            fed.wait_all_at(("facebook",), LIST, 3, timeout=60)
            wait_until(lambda: "(the tiles answer)" in _record(fed, "facebook").contact, 30,
                       "the status to say how the list is followed")  # fmt: skip
            record = _record(fed, "facebook")
            assert record.contact.startswith("unreachable: ")  # the hub, truthfully
            assert not record.alarm

            # A new node, the hub stopped: it bootstraps from the tiles.
            fed.stop("hub")
            fed.start_node("facebook2", cert_as="facebook", tiles_url=nginx.url,
                           tiles_poll_seconds=0.5)  # fmt: skip
            fed.wait_all_at(("facebook2",), LIST, 3, timeout=60)
            one, two = _record(fed, "facebook").state, _record(fed, "facebook2").state
            assert (two.size, two.root, two.state_digest) == (one.size, one.root, one.state_digest)
            log = (fed.workdir / "facebook2.log").read_text()
            assert "caught up by replaying versions 1..3 from the tiles" in log

            # A bundle changed on the server: refused, the last good state kept.
            fed.stop("facebook")
            fed.stop("facebook2")
            fed.start_hub()
            with fed.operator() as op:
                op.publish(LIST, random_signals(50, "md5"))
            fed.stop("hub")
            bundle = fed.workdir / "tiles" / LIST / "tile/entries/000.p/4"
            data = bundle.read_bytes()
            at = data.rindex(b"add md5:") + len(b"add md5:")
            bundle.write_bytes(data[:at] + (b"0" if data[at : at + 1] != b"0" else b"1")
                               + data[at + 1 :])  # fmt: skip
            good = _record(fed, "facebook").state
            fed.start_node("facebook", tiles_url=nginx.url, tiles_poll_seconds=0.5)
            wait_until(lambda: bool(_record(fed, "facebook").alarm), 60, "the alarm")
            record = _record(fed, "facebook")
            assert record.alarm.split(":")[0] in {
                "BadProofError", "DigestMismatchError", "MalformedDeltaError",
                "DeltaConflictError",
            }, record.alarm  # fmt: skip
            assert record.state == good
