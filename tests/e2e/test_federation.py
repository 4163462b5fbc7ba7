"""End to end, in real processes: a hub and nodes on loopback with real mTLS.

These start ``hashlist hub serve`` and ``hashlist node run`` exactly as a
user would, and look at the nodes only through their SQLite files.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from hashlist.cli.demo import Federation, random_signals
from hashlist.lthash import LtHash16

LIST = "takeitdown"


@pytest.fixture
def fed(federation: Federation) -> Federation:
    with federation.operator() as op:
        for partner in ("facebook", "instagram", "yubo"):
            op.grant(LIST, partner, new_partner=True)
    return federation


def _rows(fed: Federation, partner: str) -> tuple[set[str], bytes, int]:
    """(members, stored state digest, stored size) read from a node's database."""
    conn = sqlite3.connect(f"file:{fed.workdir / (partner + '.db')}?mode=ro", uri=True)
    try:
        members = {
            r[0] for r in conn.execute("SELECT signal FROM members WHERE list_id=?", (LIST,))
        }
        digest, size = conn.execute(
            "SELECT state_digest, size FROM lists WHERE list_id=?", (LIST,)
        ).fetchone()
    finally:
        conn.close()
    return members, digest, size


def _hub_digest(fed: Federation) -> tuple[int, bytes]:
    with fed.operator() as op:
        s = op.status()[0]
    return s.size, s.state_digest


def test_three_nodes_converge_and_a_retraction_reaches_every_replica(fed: Federation) -> None:
    partners = ("facebook", "instagram", "yubo")
    for p in partners:
        fed.start_node(p)
    signals = random_signals(3000)
    with fed.operator() as op:
        op.publish(LIST, signals)
        version = op.publish(LIST, [], signals[:10]).version
    fed.wait_all_at(partners, LIST, version, timeout=60)
    size, digest = _hub_digest(fed)
    for p in partners:
        members, stored, stored_size = _rows(fed, p)
        assert (stored_size, stored) == (size, digest)
        assert members == set(signals[10:])
        assert LtHash16.of(members).digest() == digest


def test_a_restarted_node_resumes_without_refetching(fed: Federation) -> None:
    fed.start_node("facebook")
    with fed.operator() as op:
        op.publish(LIST, random_signals(500))
        fed.wait_all_at(("facebook",), LIST, 1, timeout=60)
        op.publish(LIST, random_signals(10))
        fed.wait_all_at(("facebook",), LIST, 2, timeout=60)
        assert fed.stop("facebook") == 0  # SIGTERM: a clean exit
        op.publish(LIST, random_signals(10))
        fed.start_node("facebook")
        fed.wait_all_at(("facebook",), LIST, 3, timeout=60)
    log = (fed.workdir / "facebook.log").read_text()
    assert log.count("bootstrapped from a verified snapshot") == 1
    assert "verified and applied versions 3..3" in log
    assert _rows(fed, "facebook")[1] == _hub_digest(fed)[1]


def test_sigkill_while_applying_a_large_delta_loses_and_duplicates_nothing(fed: Federation) -> None:
    fed.start_node("facebook")
    with fed.operator() as op:
        op.publish(LIST, random_signals(100))
        fed.wait_all_at(("facebook",), LIST, 1, timeout=60)
        interrupted = 0
        for delay in (0.05, 0.3, 0.7, 1.2):
            result = op.publish(LIST, random_signals(120_000))  # about 135 leaves
            before = result.first_version - 1
            time.sleep(delay)
            fed.stop("facebook", signal.SIGKILL)
            members, stored, size = _rows(fed, "facebook")
            # Either the whole publication or none of it, and the rows match the digest.
            assert size in (before, result.version)
            interrupted += size == before
            assert LtHash16.of(members).digest() == stored
            fed.start_node("facebook")
            fed.wait_all_at(("facebook",), LIST, result.version, timeout=120)
    assert interrupted >= 1, "no kill landed before the commit: the test proved nothing"
    members, stored, _ = _rows(fed, "facebook")
    size, digest = _hub_digest(fed)
    assert stored == digest
    with fed.operator() as op:
        assert len(members) == op.status()[0].hashes


def test_nodes_reconnect_by_themselves_after_the_hub_is_killed(fed: Federation) -> None:
    partners = ("facebook", "instagram")
    for p in partners:
        fed.start_node(p)
    with fed.operator() as op:
        op.publish(LIST, random_signals(200))
    fed.wait_all_at(partners, LIST, 1, timeout=60)
    fed.stop("hub", signal.SIGKILL)
    time.sleep(1.0)  # the nodes notice and start backing off
    fed.start_hub()  # same port, same database
    with fed.operator() as op:
        version = op.publish(LIST, random_signals(50)).version
    fed.wait_all_at(partners, LIST, version, timeout=60)
    size, digest = _hub_digest(fed)
    for p in partners:
        assert _rows(fed, p)[1:] == (digest, size)


def test_the_demo_command_runs_a_federation_and_stops_it(tmp_path: Path) -> None:
    # The README's first command runs `hashlist demo`; this is that, smaller.
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "hashlist.cli", "demo", "--hashes", "1000",
         "--workdir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every replica matches the hub's signed state digest" in done.stdout
    # 1,000 PDQ lines need two leaves of at most 65,535 bytes, the retraction a third.
    assert "published 1,000 hashes as versions 1..2" in done.stdout
    assert "retracted 1 hash as version 3" in done.stdout
    [digest] = re.findall(r"^hub +takeitdown +3 +999  ([0-9a-f]{64})$", done.stdout, re.M)
    for partner in ("facebook", "instagram", "yubo"):
        assert f"{partner:<10} takeitdown        3     999  {digest}" in done.stdout
    # Then: an edited copy matches at a node, an unrelated image does not, and
    # the report and verdict reach the hub's view.
    out = done.stdout
    edited = out.split("edited copy of image-1")[1].split("unrelated image")[0]
    assert "pdq:" in edited
    assert "unrelated image: no match" in out
    hub_view = out.split("the hub's view")[1]
    assert re.search(r"pdq:\S+\s+facebook 1\s+1\s+0", hub_view), hub_view
    assert "all processes stopped" in done.stdout


def test_check_verdict_and_matches_from_the_command_line(fed: Federation) -> None:
    import subprocess
    import sys

    from hashlist.cli.demo import wait_until
    from hashlist.hashing import hash_file
    from hashlist.synthetic import edited_copy, jpeg_bytes, synthetic_image

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hashlist.cli", *args],
            capture_output=True, text=True, timeout=60, check=False, cwd=fed.workdir,
        )  # fmt: skip

    fed.start_node("yubo")
    original = fed.workdir / "original.jpg"
    original.write_bytes(jpeg_bytes(synthetic_image(5)))
    upload = fed.workdir / "upload.jpg"
    upload.write_bytes(edited_copy(synthetic_image(5)))
    with fed.operator() as op:
        version = op.publish(LIST, hash_file(original).signals).version
    fed.wait_all_at(("yubo",), LIST, version, timeout=60)
    config = str(fed.workdir / "yubo.toml")
    wait_until((fed.workdir / "yubo.sock").exists, 30, "the matcher socket")

    done = cli("node", "check", "--config", config, "--json", "--content-id", "y-42", str(upload))
    assert done.returncode == 0, done.stderr
    matches = json.loads(done.stdout)["matches"]
    assert {m["signal"].split(":")[0] for m in matches} == {"pdq", "phash"}
    verdict = cli("node", "verdict", "--config", config, matches[0]["report_id"], "not_violating")
    assert verdict.returncode == 0, verdict.stderr
    bad = cli("node", "verdict", "--config", config, "0" * 32, "removed")
    assert bad.returncode == 2
    assert "NotFoundError" in bad.stderr
    assert "Traceback" not in bad.stderr

    certs = fed.certs
    operator = [f"--hub=127.0.0.1:{fed.hub_port}", f"--ca={certs / 'ca.pem'}",
                f"--cert={certs / 'operator.pem'}", f"--key={certs / 'operator.key'}"]  # fmt: skip
    with fed.operator() as op:
        wait_until(lambda: sum(h.not_violating for h in op.matches(LIST)) == 1, 30, "the verdict")
    view = cli("hub", "matches", "--list", LIST, "--review-threshold", "1", *operator)
    assert view.returncode == 0, view.stderr
    assert re.search(r"\s+yubo 1\s+0\s+1  REVIEW", view.stdout), view.stdout
    assert "hashlist hub publish --list takeitdown --remove" in view.stdout
