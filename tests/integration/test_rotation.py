"""Key rotation: trust-root chaining (table-driven) and a hub log-key rollover.

The table lists rotations that must succeed and ones that must fail, each a
chain of signed versions served after version 1. The rollover test runs a
real hub over mTLS through the overlap (signing with both keys) and after
it, with a node configured with the old trust root that never stops syncing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from hashlist.cli import main
from hashlist.clock import SystemClock
from hashlist.errors import (
    ExpiredTrustRootError,
    HashlistError,
    RotationError,
    RotationThresholdError,
    RotationVersionError,
    TrustRootError,
)
from hashlist.note import ED25519, Signer, sign_note
from hashlist.rotation import sign_trust_root, walk
from hashlist.trustroot import TrustRoot, parse_trust_root
from node.daemon import effective_trust
from server.config import HubConfig
from tests.conftest import Keys
from tests.support import client, hub_config, hub_running, node_syncer

NOW = 1_800_000_000
R1, R2, R3 = (Signer.generate(f"hub.example/root-{i}", ED25519) for i in (1, 2, 3))


def _v1(keys: Keys) -> TrustRoot:
    return dataclasses.replace(
        keys.trust(), root_keys=(R1.verifier(), R2.verifier()), root_threshold=2
    )


def _next(root: TrustRoot, **changes: object) -> TrustRoot:
    return dataclasses.replace(root, version=root.version + 1, **changes)  # type: ignore[arg-type]


Chain = Callable[[TrustRoot], list[bytes]]
R3_ONLY: dict[str, object] = {"root_keys": (R3.verifier(),), "root_threshold": 1}


def _flip_text(signed: bytes) -> bytes:
    return signed.replace(
        b"max_checkpoint_age_seconds = 3600", b"max_checkpoint_age_seconds = 9999"
    )


CASES: list[tuple[str, Chain, type[HashlistError] | int]] = [
    ("signed by both root keys", lambda v1: [sign_trust_root(_next(v1), [R1, R2])], 2),
    ("hand the root keys over to a new key, then use it",
     lambda v1: [sign_trust_root(v2 := _next(v1, **R3_ONLY), [R1, R2, R3]),
                 sign_trust_root(_next(v2), [R3])], 3),
    ("an expired intermediate version",
     lambda v1: [sign_trust_root(v2 := _next(v1, expires=NOW - 1), [R1, R2]),
                 sign_trust_root(_next(v2, expires=NOW + 60), [R1, R2])], 3),
    ("threshold not met: one of two root keys",
     lambda v1: [sign_trust_root(_next(v1), [R1])], RotationThresholdError),
    ("a key that signed twice is counted once",
     lambda v1: [sign_note(_next(v1).to_toml().encode(), [R1, R1])], RotationThresholdError),
    ("the new root keys did not sign",
     lambda v1: [sign_trust_root(_next(v1, **R3_ONLY), [R1, R2])], RotationThresholdError),
    ("old keys after they were handed over",
     lambda v1: [sign_trust_root(v2 := _next(v1, **R3_ONLY), [R1, R2, R3]),
                 sign_trust_root(_next(v2), [R1, R2])], RotationThresholdError),
    ("signed by strangers",
     lambda v1: [sign_trust_root(_next(v1), [Signer.generate("x.example/root")])],
     RotationThresholdError),
    ("text changed after signing",
     lambda v1: [_flip_text(sign_trust_root(_next(v1), [R1, R2]))], RotationThresholdError),
    ("version skipped",
     lambda v1: [sign_trust_root(_next(_next(v1)), [R1, R2])], RotationVersionError),
    ("version replayed",
     lambda v1: [sign_trust_root(v1, [R1, R2])], RotationVersionError),
    ("another hub",
     lambda v1: [sign_trust_root(_next(v1, hub="evil.example"), [R1, R2])],
     RotationVersionError),
    ("expired",
     lambda v1: [sign_trust_root(_next(v1, expires=NOW - 1), [R1, R2])], ExpiredTrustRootError),
    ("longer than the cap",
     lambda v1: [sign_trust_root(dataclasses.replace(v1, version=v), [R1, R2])
                 for v in range(2, 6)],
     RotationError),
]  # fmt: skip


@pytest.mark.parametrize(("case", "chain", "outcome"), CASES, ids=[c[0] for c in CASES])
def test_rotation_table(
    keys: Keys, case: str, chain: Chain, outcome: type[HashlistError] | int
) -> None:
    v1 = _v1(keys)
    served = {1 + i: signed for i, signed in enumerate(chain(v1), start=1)}
    if isinstance(outcome, int):
        trust, accepted = walk(v1, served.get, now=NOW, cap=3)
        assert trust.version == outcome
        assert accepted == [served[v] for v in range(2, outcome + 1)]
        assert trust == parse_trust_root(served[outcome].split(b"\n\n")[0].decode() + "\n")
    else:
        with pytest.raises(outcome):
            walk(v1, served.get, now=NOW, cap=3)


def test_a_root_key_listed_twice_is_refused(keys: Keys) -> None:
    with pytest.raises(TrustRootError, match="listed twice"):
        dataclasses.replace(_v1(keys), root_keys=(R1.verifier(), R1.verifier()))
    with pytest.raises(TrustRootError, match="root_threshold"):
        dataclasses.replace(_v1(keys), root_threshold=3)
    assert parse_trust_root(_next(_v1(keys), expires=NOW).to_toml()).expires == NOW


def test_hub_log_key_rollover_is_followed_without_downtime(tmp_path: Path, pki: Path) -> None:
    list_id = "takeitdown"
    config, trust = hub_config(tmp_path / "hub", pki)
    v1 = dataclasses.replace(trust, root_keys=(R1.verifier(),), root_threshold=1)
    node_dir = tmp_path / "node"
    node_dir.mkdir()
    (node_dir / "unused.toml").write_text(v1.to_toml())  # the node's configured trust root
    clock = SystemClock()

    def publish_and_sync(cfg: HubConfig, trust: TrustRoot, signal: str) -> tuple[bool, int, str]:
        with hub_running(cfg) as hub, client(hub.port, pki, "operator") as op:
            if op.create_list(list_id):
                op.grant(list_id, "facebook", new_partner=True)
            op.publish(list_id, [signal])
            with node_syncer(node_dir, pki, hub.port, trust, clock) as (syncer, store):
                ok = syncer.sync(list_id)
                return ok, store.state(list_id).size, store.record(list_id).alarm

    def audit(cfg: HubConfig) -> int:
        """An auditor holding only version 1, keeping what it verified in one folder."""
        with hub_running(cfg) as hub:
            return main(["audit", "replay", "--list", list_id,
                         f"--audit-dir={tmp_path / 'audit'}",
                         f"--trust-root={node_dir / 'unused.toml'}", f"--hub=127.0.0.1:{hub.port}",
                         f"--ca={pki / 'ca.pem'}", f"--cert={pki / 'auditor.pem'}",
                         f"--key={pki / 'auditor.key'}"])  # fmt: skip

    assert publish_and_sync(config, v1, "md5:" + "1" * 32) == (True, 1, "")
    assert audit(config) == 0  # keeps a checkpoint signed by the old key alone

    # Overlap: the new key signs, the old one too; version 2 of the trust root is served.
    new_key = Signer.generate("hub.example/log-2026", ED25519)
    (tmp_path / "hub" / "log2.key").write_text(str(new_key))
    v2 = _next(v1, log_keys=(new_key.verifier(),))
    (tmp_path / "v2.note").write_bytes(sign_trust_root(v2, [R1]))
    overlap = dataclasses.replace(
        config, log_key=tmp_path / "hub" / "log2.key", extra_log_keys=(config.log_key,),
        trust_roots=(tmp_path / "v2.note",),
    )  # fmt: skip
    assert publish_and_sync(overlap, v1, "md5:" + "2" * 32) == (True, 2, "")
    assert audit(overlap) == 0

    # After the overlap only the new key signs; the node, still on version 1, follows.
    after = dataclasses.replace(overlap, extra_log_keys=())
    assert publish_and_sync(after, v1, "md5:" + "3" * 32) == (True, 3, "")
    with node_syncer(node_dir, pki, 1, v1, clock) as (syncer, store):
        restarted = effective_trust(syncer.config, store)  # what a restart would trust
    assert restarted.version == 2
    assert restarted.log_keys == (new_key.verifier(),)

    # The auditor follows the rotation the same way, and the checkpoints it kept are
    # checked against the version in force when each was signed, run after run.
    assert audit(after) == 0
    assert audit(after) == 0
    assert len(list((tmp_path / "audit" / list_id).glob("*.note"))) == 3
    # A bundle made now carries the versions: it verifies offline from version 1.
    with hub_running(after) as hub:
        assert main(["audit", "export", "--list", list_id, f"--out={tmp_path / 'bundle'}",
                     f"--audit-dir={tmp_path / 'audit'}",
                     f"--trust-root={node_dir / 'unused.toml'}", f"--hub=127.0.0.1:{hub.port}",
                     f"--ca={pki / 'ca.pem'}", f"--cert={pki / 'auditor.pem'}",
                     f"--key={pki / 'auditor.key'}"]) == 0  # fmt: skip
    assert main(["audit", "verify-bundle", str(tmp_path / "bundle"),
                 f"--trust-root={node_dir / 'unused.toml'}"]) == 0  # fmt: skip


def test_a_trust_root_forged_into_the_database_is_refused_at_start(
    tmp_path: Path, pki: Path, keys: Keys
) -> None:
    v1 = _v1(keys)
    folder = tmp_path / "n"
    with node_syncer(folder, pki, 1, v1, SystemClock()) as (syncer, store):
        (folder / "unused.toml").write_text(v1.to_toml())
        forged = sign_trust_root(_next(v1, log_keys=(Signer.generate("evil/log").verifier(),)),
                                 [Signer.generate("evil/root")])  # fmt: skip
        store.add_trust_roots([(2, forged)])
        with pytest.raises(RotationThresholdError):
            effective_trust(syncer.config, store)
