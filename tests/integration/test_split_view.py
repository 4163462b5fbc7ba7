"""Split view: a malicious hub shows partner A one history and partner B another.

Two simulators share the hub's real keys and the first version, then fork:
node A (facebook) follows one, node B (instagram) the other. With a witness
quorum in the trust root the witness cosigns only one branch, so node B
refuses before applying anything. Without one both nodes apply, and
``audit compare`` on their ``node status --json`` catches the hub, writing
evidence that ``audit verify-evidence`` checks with only the trust root.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from hashlist.cli import main
from hashlist.clock import FixedClock
from hashlist.errors import BadProofError, WitnessConflictError
from hashlist.trustroot import TrustRoot
from hashlist.witness_client import WitnessClient
from hashlist.witness_protocol import AddCheckpoint
from node.instance import NodeLock
from tests.conftest import Keys
from tests.simulator import MaliciousHub, serving
from tests.support import node_syncer, witness_config
from witness.server import running_witness

LIST = "takeitdown"


@dataclass
class Fork:
    a: MaliciousHub
    b: MaliciousHub
    port_a: int
    port_b: int
    witness: WitnessClient
    witness_url: str
    clock: FixedClock


@pytest.fixture
def fork(tmp_path: Path, pki: Path, keys: Keys) -> Iterator[Fork]:
    clock = FixedClock(int(time.time()))
    a, b = (MaliciousHub(keys, LIST, clock, 3600) for _ in "ab")
    for sim in (a, b):
        sim.publish([f"md5:{i:032x}" for i in range(10)])
    a.publish(["md5:" + "a" * 32])  # A's partner sees this hash listed...
    b.publish(["md5:" + "b" * 32])  # ...B's sees another one instead
    config = witness_config(tmp_path / "witness", pki, keys.witnesses[0], keys.trust())
    with ExitStack() as stack:
        wport = stack.enter_context(running_witness(config, clock=clock))
        port_a = stack.enter_context(serving(a, pki))
        port_b = stack.enter_context(serving(b, pki))
        url = f"https://127.0.0.1:{wport}"
        yield Fork(a, b, port_a, port_b, WitnessClient(url, [pki / "ca.pem"]), url, clock)


def _witness(f: Fork, sim: MaliciousHub) -> None:
    """What the hub must do for a quorum: ask the witness, serve what it returns."""
    note = sim.log.signed_checkpoint(f.clock.now())
    try:
        line = f.witness.add_checkpoint(AddCheckpoint(0, (), note))
    except WitnessConflictError as e:
        proof = tuple(sim.log.tree.consistency_proof(e.size)) if e.size < sim.log.size else ()
        line = f.witness.add_checkpoint(AddCheckpoint(e.size, proof, note))
    sim.witness_lines = [line]


def test_with_a_witness_quorum_one_node_refuses_the_fork_before_applying_it(
    fork: Fork, tmp_path: Path, pki: Path, keys: Keys
) -> None:
    _witness(fork, fork.a)
    with pytest.raises(BadProofError):  # the witness will not cosign the second branch
        _witness(fork, fork.b)
    trust = keys.trust(quorum=1)
    with node_syncer(tmp_path / "a", pki, fork.port_a, trust, fork.clock) as (sync_a, store_a):
        assert sync_a.sync(LIST)
        assert store_a.state(LIST).size == 2
    with node_syncer(tmp_path / "b", pki, fork.port_b, trust, fork.clock, name="instagram") as (
        sync_b,
        store_b,
    ):
        assert sync_b.sync(LIST) is False
        assert store_b.record(LIST).alarm == ""  # pending its witness: not an alarm
        assert store_b.state(LIST).size == 0
        assert store_b.count(LIST) == 0


def _status(tmp: Path, pki: Path, name: str, port: int, trust: Path) -> Path:
    """The node's own ``hashlist node status --json``, as its operator would run it."""
    config = tmp / name / "node.toml"
    config.write_text(
        f'name = "{name}"\nhub = "127.0.0.1:{port}"\ntrust_root = "{trust}"\n'
        f'lists = ["{LIST}"]\ndatabase = "{tmp / name / f"{name}.db"}"\n'
        f'tls_cert = "{pki / f"{name}.pem"}"\ntls_key = "{pki / f"{name}.key"}"\n'
        f'ca = "{pki / "ca.pem"}"\n'
    )
    return config


def test_audit_compare_catches_the_split_view_and_the_evidence_verifies_offline(
    fork: Fork, tmp_path: Path, pki: Path, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    _witness(fork, fork.a)
    trust: TrustRoot = keys.trust()  # no quorum: both nodes apply their branch
    trust_file = tmp_path / "trust.toml"
    trust_file.write_text(trust.to_toml())
    statuses = []
    for name, port in (("facebook", fork.port_a), ("instagram", fork.port_b)):
        with node_syncer(tmp_path / name, pki, port, trust, fork.clock, name=name) as (s, _):
            assert s.sync(LIST)
        config = _status(tmp_path, pki, name, port, trust_file)
        with NodeLock(tmp_path / name / f"{name}.db"):  # as while its node runs
            assert main(["node", "status", "--json", "--config", str(config)]) == 0
        statuses.append(tmp_path / f"{name}.json")
        statuses[-1].write_text(capsys.readouterr().out)

    evidence = tmp_path / "evidence"
    code = main(["audit", "compare", "--list", LIST, f"--trust-root={trust_file}", "--offline",
                 f"--status={statuses[0]}", f"--status={statuses[1]}",
                 f"--witness={fork.witness_url}", f"--witness-ca={pki / 'ca.pem'}",
                 f"--evidence-dir={evidence}"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 10, out
    # Node B's checkpoint conflicts with node A's and with what the witness cosigned.
    assert out.count("SPLIT VIEW") == 2
    assert "consistent" not in out.replace("SPLIT VIEW", "")
    files = sorted(evidence.glob("*.json"))
    assert len(files) == 2

    # Offline, elsewhere: only the trust root and the evidence files.
    assert main(["audit", "verify-evidence", *map(str, files), f"--trust-root={trust_file}"]) == 0
    assert capsys.readouterr().out.count("PROVEN: hub.example/lists/takeitdown") == 2
    doc = json.loads(files[0].read_text())
    larger, smaller = doc["larger"]["note"], doc["smaller"]["note"]
    doc["larger"]["note"] = larger.replace(larger.split("\n")[2], smaller.split("\n")[2])
    files[0].write_text(json.dumps(doc))
    assert main(["audit", "verify-evidence", str(files[0]), f"--trust-root={trust_file}"]) == 1
    assert "NOT PROVEN: BadSignatureError" in capsys.readouterr().out


def test_compare_proves_a_fork_across_sizes_with_the_hubs_own_leaves(
    fork: Fork, tmp_path: Path, pki: Path, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    # Node A stays at its branch's version 2; the hub later shows the auditor
    # B's branch, now at version 3. Different sizes: only the leaves can tell.
    trust = keys.trust()
    trust_file = tmp_path / "trust.toml"
    trust_file.write_text(trust.to_toml())
    with node_syncer(tmp_path / "facebook", pki, fork.port_a, trust, fork.clock) as (s, _):
        assert s.sync(LIST)
    config = _status(tmp_path, pki, "facebook", fork.port_a, trust_file)
    with NodeLock(tmp_path / "facebook" / "facebook.db"):  # as while its node runs
        assert main(["node", "status", "--json", "--config", str(config)]) == 0
    status = tmp_path / "a.json"
    status.write_text(capsys.readouterr().out)
    fork.b.publish(["md5:" + "c" * 32])
    auditor = [f"--hub=127.0.0.1:{fork.port_b}", f"--ca={pki / 'ca.pem'}",
               f"--cert={pki / 'auditor.pem'}", f"--key={pki / 'auditor.key'}"]  # fmt: skip
    evidence = tmp_path / "evidence"
    code = main(["audit", "compare", "--list", LIST, f"--trust-root={trust_file}",
                 f"--status={status}", f"--evidence-dir={evidence}", *auditor])  # fmt: skip
    assert code == 10, capsys.readouterr().out
    [file] = evidence.glob("*.json")
    doc = json.loads(file.read_text())
    assert doc["proof"]  # sizes 2 and 3: a consistency proof is the evidence
    capsys.readouterr()
    assert main(["audit", "verify-evidence", str(file), f"--trust-root={trust_file}"]) == 0
    assert "two histories" in capsys.readouterr().out

    # The honest case: the same node compared with the branch it follows.
    fork.a.publish(["md5:" + "d" * 32])
    auditor[0] = f"--hub=127.0.0.1:{fork.port_a}"
    code = main(["audit", "compare", "--list", LIST, f"--trust-root={trust_file}",
                 f"--status={status}", f"--evidence-dir={tmp_path / 'no'}", *auditor])  # fmt: skip
    assert code == 0, capsys.readouterr().out
    assert not (tmp_path / "no").exists()
