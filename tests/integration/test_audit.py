"""Auditors: replay a list's history (twice, to catch a rewrite) and check a replica.

The hub is the malicious-hub simulator over real mTLS; the auditor uses its
own certificate and the ``hashlist audit`` commands as a person would.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hashlist.cli import main
from hashlist.client import ClientTLS, HubClient
from hashlist.clock import FixedClock
from hashlist.retry import Backoff
from node.config import NodeConfig
from node.store import SqliteNodeStore
from node.sync import Syncer
from tests.conftest import Keys
from tests.simulator import MaliciousHub, serving

LIST = "takeitdown"


@dataclass
class Setup:
    sim: MaliciousHub
    port: int
    args: list[str]
    tmp: Path


@pytest.fixture
def setup(tmp_path: Path, pki: Path, keys: Keys) -> Iterator[Setup]:
    clock = FixedClock(int(time.time()))
    sim = MaliciousHub(keys, LIST, clock, 3600)
    (tmp_path / "trust.toml").write_text(keys.trust().to_toml())
    with serving(sim, pki) as port:
        args = [
            f"--hub=127.0.0.1:{port}", f"--trust-root={tmp_path / 'trust.toml'}",
            f"--ca={pki / 'ca.pem'}", f"--cert={pki / 'auditor.pem'}",
            f"--key={pki / 'auditor.key'}",
        ]  # fmt: skip
        yield Setup(sim, port, args, tmp_path)


def replay(s: Setup, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = main(["audit", "replay", "--list", LIST, f"--audit-dir={s.tmp / 'audit'}",
                 "--json", *s.args])  # fmt: skip
    return code, json.loads(capsys.readouterr().out)


def test_replay_verifies_and_remembers_what_it_saw(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.sim.publish([f"md5:{i:032x}" for i in range(50)])
    setup.sim.publish([f"pdq:{i:064x}" for i in range(5)], ["md5:" + "0" * 32])
    code, out = replay(setup, capsys)
    assert code == 0, out
    assert out["size"] == 2
    assert out["hashes"] == 54
    assert out["earlier_checkpoints"] == 0
    setup.sim.publish(["sha256:" + "a" * 64])
    code, out = replay(setup, capsys)
    assert code == 0, out
    assert out["size"] == 3
    assert out["earlier_checkpoints"] == 1


def test_a_history_rewritten_after_the_fact_is_caught_on_the_next_run(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.sim.publish([f"md5:{i:032x}" for i in range(10)])
    setup.sim.publish(["md5:" + "f" * 32])
    assert replay(setup, capsys)[0] == 0
    # The hub quietly replaces its history with another, longer one: every
    # leaf is valid and signed, and on its own it replays cleanly.
    setup.sim.log = setup.sim._new_log()
    setup.sim.publish([f"md5:{i:032x}" for i in range(9)])
    setup.sim.publish(["md5:" + "e" * 32])
    setup.sim.publish(["md5:" + "d" * 32])
    code, out = replay(setup, capsys)
    assert code == 10
    assert out["error"] == "EquivocationError"
    assert "history rewritten" in str(out["message"])
    evidence = setup.tmp / "audit" / LIST / "evidence"
    assert len(list(evidence.glob("*.trusted.note"))) == 1
    assert len(list(evidence.glob("*.served.note"))) == 1


def test_a_rolled_back_history_is_caught(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    setup.sim.publish([f"md5:{i:032x}" for i in range(3)])
    setup.sim.publish(["md5:" + "f" * 32])
    assert replay(setup, capsys)[0] == 0
    setup.sim.attack = "rollback"
    code, out = replay(setup, capsys)
    assert code == 11
    assert out["error"] == "RollbackError"


def test_a_flipped_leaf_fails_replay(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    setup.sim.publish([f"md5:{i:032x}" for i in range(3)])
    setup.sim.attack = "flip"
    code, out = replay(setup, capsys)
    assert code in (14, 15, 16)  # whichever check the flipped byte trips first
    assert out["ok"] is False


def synced_replica(setup: Setup, pki: Path, keys: Keys) -> Path:
    config = NodeConfig(
        name="facebook", hub=f"127.0.0.1:{setup.port}", trust_root=setup.tmp / "trust.toml",
        lists=(LIST,), database=setup.tmp / "node.db", tls_cert=pki / "facebook.pem",
        tls_key=pki / "facebook.key", ca=pki / "ca.pem",
    )  # fmt: skip
    tls = ClientTLS(config.ca, config.tls_cert, config.tls_key)
    with HubClient(config.hub, tls, timeout=10, backoff=Backoff(0.01, 0.05, 2)) as client:
        store = SqliteNodeStore(config.database)
        assert Syncer(config, keys.trust(), store, client, setup.sim.clock).sync(LIST)
        store.close()
    return config.database


def verify_replica(setup: Setup, db: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["audit", "verify-replica", str(db), *setup.args])
    return code, capsys.readouterr().out


def test_verify_replica_catches_a_hand_edited_database(
    setup: Setup, pki: Path, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.sim.publish([f"md5:{i:032x}" for i in range(30)])
    setup.sim.publish([f"pdq:{i:064x}" for i in range(3)], ["md5:" + "0" * 32])
    db = synced_replica(setup, pki, keys)
    code, out = verify_replica(setup, db, capsys)
    assert code == 0, out
    assert "OK: 32 rows" in out
    with sqlite3.connect(db) as conn:  # someone edits the file by hand
        conn.execute("DELETE FROM members WHERE signal=?", (f"md5:{5:032x}",))
        conn.execute("INSERT INTO members VALUES(?,?,2)", (LIST, "md5:" + "9" * 32))
    conn.close()
    code, out = verify_replica(setup, db, capsys)
    assert code == 14
    assert "DigestMismatchError" in out


def test_verify_replica_catches_an_edited_state_digest_too(
    setup: Setup, pki: Path, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    # Editing rows *and* the stored digest to match still fails: the digest
    # that counts is the one in the signed last leaf.
    setup.sim.publish([f"md5:{i:032x}" for i in range(5)])
    db = synced_replica(setup, pki, keys)
    from hashlist.lthash import LtHash16

    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM members WHERE signal=?", (f"md5:{1:032x}",))
        rows = [r[0] for r in conn.execute("SELECT signal FROM members")]
        conn.execute("UPDATE lists SET state_digest=?", (LtHash16.of(rows).digest(),))
    conn.close()
    code, out = verify_replica(setup, db, capsys)
    assert code == 14, out


def test_an_exported_bundle_verifies_offline_and_a_tampered_one_does_not(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.sim.publish([f"md5:{i:032x}" for i in range(20)])
    setup.sim.publish([f"pdq:{i:064x}" for i in range(4)], ["md5:" + "0" * 32])
    assert replay(setup, capsys)[0] == 0
    setup.sim.publish(["md5:" + "c" * 32])
    bundle = setup.tmp / "bundle"
    code = main(["audit", "export", "--list", LIST, f"--out={bundle}",
                 f"--audit-dir={setup.tmp / 'audit'}", *setup.args])  # fmt: skip
    assert code == 0
    capsys.readouterr()
    trust = f"--trust-root={setup.tmp / 'trust.toml'}"  # no hub, no certificate
    assert main(["audit", "verify-bundle", str(bundle), trust, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["size"], out["hashes"], out["earlier_checkpoints"]) == (3, 24, 1)
    leaves = bundle / "leaves.bin"
    data = bytearray(leaves.read_bytes())
    data[len(data) // 2] ^= 0x01
    leaves.write_bytes(bytes(data))
    assert main(["audit", "verify-bundle", str(bundle), trust, "--json"]) in (14, 15, 16)
    assert json.loads(capsys.readouterr().out)["ok"] is False
