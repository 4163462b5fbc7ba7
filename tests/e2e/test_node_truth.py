"""A node run unattended says the truth about itself and never dies quietly (real processes).

Each test starts ``hashlist hub serve`` and ``hashlist node run`` as a
partner would, and looks at the node only through ``hashlist node status``,
``hashlist node check``, its log and its SQLite file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hashlist.cli.demo import Federation, random_signals, wait_until

LIST = "takeitdown"


@pytest.fixture
def fed(federation: Federation) -> Federation:
    return federation


def _cli(fed: Federation, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hashlist.cli", *args],
        capture_output=True, text=True, timeout=timeout, check=False, cwd=fed.workdir,
    )  # fmt: skip


def _status(fed: Federation, partner: str) -> tuple[int, dict[str, object]]:
    done = _cli(fed, "node", "status", "--config", str(fed.workdir / f"{partner}.toml"), "--json")
    assert "Traceback" not in done.stderr
    if not done.stdout:  # no database yet, or not yet made: the node is still starting
        starting = ("no node database", "being created", "the node is migrating it")
        assert any(s in done.stderr for s in starting), done.stderr
        return done.returncode, {}
    return done.returncode, json.loads(done.stdout.splitlines()[0])


def _log(fed: Federation, partner: str) -> str:
    return (fed.workdir / f"{partner}.log").read_text()


def test_a_refused_list_is_named_by_status_until_it_is_granted(fed: Federation) -> None:
    fed.start_node("yubo", refused_retry_seconds=1.0)
    wait_until(lambda: "may not read" in json.dumps(_status(fed, "yubo")[1]), 30, "the refusal")
    code, row = _status(fed, "yubo")
    assert code == 1
    assert row["healthy"] is False
    problems = row["problems"]
    assert isinstance(problems, list)
    assert any(p.startswith("refused by the hub: PermissionDeniedError") for p in problems)
    assert any(p.startswith("never synced") for p in problems)
    with fed.operator() as op:
        op.grant(LIST, "yubo", new_partner=True)
        op.publish(LIST, random_signals(10, "md5"))
    wait_until(lambda: _status(fed, "yubo")[0] == 0, 30, "the granted list to sync")
    assert _status(fed, "yubo")[1]["version"] == 1


def test_status_says_since_when_the_hub_cannot_be_reached(fed: Federation) -> None:
    with fed.operator() as op:
        op.grant(LIST, "yubo", new_partner=True)
        op.publish(LIST, random_signals(10, "md5"))
    fed.start_node("yubo")
    fed.wait_all_at(("yubo",), LIST, 1, timeout=30)
    wait_until(lambda: _status(fed, "yubo")[0] == 0, 30, "a healthy node")
    fed.stop("hub")
    wait_until(lambda: _status(fed, "yubo")[0] == 1, 30, "the node to notice")
    _, row = _status(fed, "yubo")
    problems = row["problems"]
    assert isinstance(problems, list)
    assert any(p.startswith("cannot reach the hub since ") for p in problems), problems
    assert row["version"] == 1  # the last verified state is kept


def test_a_second_node_on_one_database_refuses_to_start_and_touches_nothing(
    fed: Federation,
) -> None:
    upload = fed.workdir / "upload.bin"
    upload.write_bytes(os.urandom(1000))
    with fed.operator() as op:
        op.grant(LIST, "yubo", new_partner=True)
        op.publish(LIST, [f"md5:{hashlib.md5(upload.read_bytes()).hexdigest()}"])
    fed.start_node("yubo")
    fed.wait_all_at(("yubo",), LIST, 1, timeout=30)
    socket = fed.workdir / "yubo.sock"
    wait_until(socket.exists, 30, "the matcher socket")
    first_pid = fed.procs["yubo"].pid
    second = _cli(fed, "node", "run", "--config", str(fed.workdir / "yubo.toml"), timeout=30)
    assert second.returncode == 2
    assert f"another node (pid {first_pid}) is running" in second.stderr
    assert "Traceback" not in second.stderr
    assert socket.exists()
    check = _cli(fed, "node", "check", "--config", str(fed.workdir / "yubo.toml"), "--json",
                 str(upload))  # fmt: skip
    assert check.returncode == 0, check.stderr  # the first node's Matcher still answers
    assert len(json.loads(check.stdout)["matches"]) == 1
    with fed.operator() as op:  # the first node still follows the hub ...
        op.publish(LIST, random_signals(2, "md5"))
    fed.wait_all_at(("yubo",), LIST, 2, timeout=30)
    assert fed.procs["yubo"].poll() is None  # ... and is still running


def test_a_replica_edited_on_disk_is_caught_and_repaired(fed: Federation) -> None:
    with fed.operator() as op:
        op.grant(LIST, "yubo", new_partner=True)
        listed = sorted(random_signals(50, "md5"))
        op.publish(LIST, listed)
    fed.start_node("yubo", replica_check_seconds=1.0)
    fed.wait_all_at(("yubo",), LIST, 1, timeout=30)
    original = listed[7]
    altered = original[:-1] + ("0" if original[-1] != "0" else "1")  # one hex digit
    with sqlite3.connect(fed.database("yubo"), timeout=30) as db:
        db.execute("UPDATE members SET signal=? WHERE signal=?", (altered, original))
    wait_until(lambda: "CorruptReplicaError" in _log(fed, "yubo"), 30, "the check to catch it")
    wait_until(lambda: _members(fed) == set(listed), 30, "the repair from the hub")
    wait_until(lambda: _status(fed, "yubo")[0] == 0, 30, "a healthy node after the repair")


def _members(fed: Federation) -> set[str]:
    db = sqlite3.connect(f"file:{fed.database('yubo')}?mode=ro", uri=True)
    try:
        return {r[0] for r in db.execute("SELECT signal FROM members WHERE list_id=?", (LIST,))}
    finally:
        db.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a real disk that fills up (needs root, as CI has)."""
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the full-disk test needs root to mount a tmpfs; CI must run it")
        pytest.skip("the full-disk test needs root to mount a tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_raises_an_alarm_and_the_node_recovers(
    fed: Federation, small_disk: Path
) -> None:
    with fed.operator() as op:
        op.grant(LIST, "yubo", new_partner=True)
        op.publish(LIST, random_signals(100, "md5"))
    fed.start_node("yubo", database=str(small_disk / "yubo.db"))
    fed.wait_all_at(("yubo",), LIST, 1, timeout=30)
    filler = small_disk / "filler"
    with filler.open("wb") as f:  # fill the disk to the last byte
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    with fed.operator() as op:
        version = op.publish(LIST, random_signals(20_000, "md5")).version  # several leaves
    wait_until(lambda: "StorageError" in _log(fed, "yubo"), 30, "the node to hit the full disk")
    assert fed.procs["yubo"].poll() is None  # still running: it keeps serving version 1
    assert fed.node_state("yubo", LIST)[0] == 1
    filler.unlink()
    fed.wait_all_at(("yubo",), LIST, version, timeout=60)  # it retried with backoff, recovered
    assert fed.node_hashes("yubo", LIST) == 20_100
    wait_until(lambda: _status(fed, "yubo")[0] == 0, 30, "a healthy node after recovery")
    assert fed.stop("yubo") == 0  # before the disk goes away
    code, row = _status(fed, "yubo")  # a stopped node is not a healthy one
    assert code == 1
    assert "no node is running on this database" in json.dumps(row["problems"])
