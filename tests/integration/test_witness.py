"""The witness: its decision table, its HTTPS server, and a hub that submits to it."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hashlist.checkpoint import cosign, verify_checkpoint
from hashlist.clock import FixedClock, SystemClock
from hashlist.errors import (
    BadProofError,
    BadSignatureError,
    BadWitnessError,
    HashlistError,
    InputError,
    NotFoundError,
    UnavailableError,
    WitnessConflictError,
)
from hashlist.log import ListLog
from hashlist.note import COSIGNATURE_V1, Signer, cosignature_timestamp, open_note
from hashlist.trustroot import TrustRoot
from hashlist.witness_client import WitnessClient
from hashlist.witness_protocol import (
    AddCheckpoint,
    Witnessed,
    add_checkpoint,
    check_cosignature,
    cosigned_note,
    http_status,
    parse_add_checkpoint,
)
from server.config import HubConfig
from tests.conftest import HUB, Keys
from tests.support import client, hub_config, hub_running, node_syncer, witness_config
from witness.config import WitnessConfig
from witness.server import running_witness
from witness.store import WitnessStore

LIST = "takeitdown"
NOW = 1_800_000_000


def _log(keys: Keys, signer: Signer | None = None, hub: str = HUB) -> ListLog:
    return ListLog(LIST, f"{hub}/lists/{LIST}", [signer or keys.log], [])


def _grown(keys: Keys, n: int, tag: str = "a") -> ListLog:
    log = _log(keys)
    for i in range(n):
        log.append([f"md5:{tag}{i:031x}"])
    return log


def _request(log: ListLog, old: int) -> AddCheckpoint:
    proof = tuple(log.tree.consistency_proof(old)) if 0 < old < log.size else ()
    return AddCheckpoint(old, proof, log.signed_checkpoint(NOW))


def _decide(keys: Keys, request: AddCheckpoint, last: Witnessed | None) -> bytes:
    logs = {HUB: keys.trust()}
    result = add_checkpoint(request, logs=logs, last=last, cosigner=keys.witnesses[0], now=NOW)
    return result.signature_line


def test_a_cosignature_is_timestamped_and_verifies(keys: Keys) -> None:
    log = _grown(keys, 1)
    request = _request(log, 0)
    line = _decide(keys, request, None)
    note = cosigned_note(request.note, [line])
    _, verified = open_note(note, [keys.witnesses[0].verifier()])
    [sig] = verified.values()
    assert cosignature_timestamp(sig) == NOW
    checked = verify_checkpoint(note, keys.trust(quorum=1), keys.trust().origin(LIST))
    assert checked.witnesses == (keys.witnesses[0].name,)
    # The request round-trips through its wire form.
    assert parse_add_checkpoint(request.encode()) == request


def test_extending_with_a_valid_proof_is_cosigned(keys: Keys) -> None:
    log = _grown(keys, 5)
    last = Witnessed(2, log.tree.root(2))
    assert _decide(keys, _request(log, 2), last)
    same = AddCheckpoint(5, (), log.signed_checkpoint(NOW))  # same size again: re-cosigned
    assert _decide(keys, same, Witnessed(5, log.tree.root()))


def _forked(keys: Keys) -> tuple[ListLog, ListLog]:
    """Two histories sharing their first two leaves."""
    a, b = _grown(keys, 2), _grown(keys, 2)
    a.append(["md5:" + "a" * 32])
    b.append(["md5:" + "b" * 32])
    b.append(["md5:" + "c" * 32])
    return a, b


@pytest.mark.parametrize(
    ("case", "error", "status"),
    [
        ("old is not what was cosigned", WitnessConflictError, 409),
        ("old is larger than the checkpoint", InputError, 400),
        ("a proof byte flipped", BadProofError, 422),
        ("same size, another root", BadProofError, 422),
        ("larger, but another history", BadProofError, 422),
        ("a proof extending size 0", BadProofError, 422),
        ("signed by another key", BadSignatureError, 403),
        ("a hub this witness does not follow", NotFoundError, 404),
    ],
)
def test_refusals(keys: Keys, case: str, error: type[HashlistError], status: int) -> None:
    a, b = _forked(keys)
    at_a: Witnessed | None = Witnessed(a.size, a.tree.root())
    request, last = _request(a, a.size), at_a
    if case == "old is not what was cosigned":
        request, last = _request(b, 2), at_a
    elif case == "old is larger than the checkpoint":
        request, last = AddCheckpoint(9, (), a.signed_checkpoint(NOW)), Witnessed(9, bytes(32))
    elif case == "a proof byte flipped":
        good = _request(b, 2)
        flipped = bytes([good.proof[0][0] ^ 1]) + good.proof[0][1:]
        request = dataclasses.replace(good, proof=(flipped, *good.proof[1:]))
        last = Witnessed(2, b.tree.root(2))
    elif case == "same size, another root":
        request = AddCheckpoint(3, (), _grown(keys, 3, tag="e").signed_checkpoint(NOW))
    elif case == "larger, but another history":
        request = AddCheckpoint(3, tuple(b.tree.consistency_proof(3)), b.signed_checkpoint(NOW))
    elif case == "a proof extending size 0":
        request, last = AddCheckpoint(0, (bytes(32),), a.signed_checkpoint(NOW)), None
    elif case == "signed by another key":
        request, last = _request(_log(keys, Signer.generate(f"{HUB}/log")), 0), None
    elif case == "a hub this witness does not follow":
        request, last = _request(_log(keys, hub="other.example"), 0), None
    with pytest.raises(error) as caught:
        _decide(keys, request, last)
    assert http_status(caught.value) == status
    if isinstance(caught.value, WitnessConflictError):
        assert caught.value.size == a.size


@pytest.mark.parametrize(
    "body",
    [b"", b"old 1\n", b"old x\n\nnote", b"old 01\n\nnote", b"old 1\nnot-base64!\n\nnote",
     b"old 1\n" + b"AAAA\n" + b"\nnote", b"old 1\n" + b"x" * 70_000 + b"\n\nnote"],
)  # fmt: skip
def test_malformed_requests_are_400(body: bytes) -> None:
    with pytest.raises(InputError):
        parse_add_checkpoint(body)


def test_server_cosigns_refuses_keeps_evidence_and_survives_a_restart(
    tmp_path: Path, pki: Path, keys: Keys
) -> None:
    config = witness_config(tmp_path, pki, keys.witnesses[0], keys.trust())
    a, b = _forked(keys)
    with running_witness(config, clock=FixedClock(NOW)) as port:
        w = WitnessClient(f"https://127.0.0.1:{port}", [pki / "ca.pem"])
        assert w.latest(a.origin) is None
        small = _grown(keys, 2)
        w.add_checkpoint(_request(small, 0))
        with pytest.raises(WitnessConflictError) as conflict:
            w.add_checkpoint(_request(a, 0))
        assert conflict.value.size == 2
        line = w.add_checkpoint(_request(a, 2))
        latest = w.latest(a.origin)
        assert latest == cosigned_note(a.signed_checkpoint(NOW), [line])
        with pytest.raises(BadProofError):  # B forks from A at size 3
            w.add_checkpoint(_request(b, 3))
        with pytest.raises(InputError):
            w.add_checkpoint(AddCheckpoint(3, (), b"x" * 70_000))
    store = WitnessStore(config.database)
    [(origin, reason, request)] = store.evidence()
    assert origin == a.origin
    assert "consistency" in reason
    assert parse_add_checkpoint(request).note == b.signed_checkpoint(NOW)
    store.close()
    with running_witness(config, clock=FixedClock(NOW)) as port:  # state is durable
        w = WitnessClient(f"https://127.0.0.1:{port}", [pki / "ca.pem"])
        with pytest.raises(WitnessConflictError) as conflict:
            w.add_checkpoint(_request(a, 0))
        assert conflict.value.size == 3


def _witnessed_hub(
    tmp_path: Path, pki: Path
) -> tuple[Signer, TrustRoot, WitnessConfig, Callable[[int], HubConfig]]:
    """A witness's key and config, and the config of a hub it witnesses on a given port."""
    signer = Signer.generate("witness.example", COSIGNATURE_V1)
    hub_cfg, trust = hub_config(tmp_path / "hub", pki)

    def witnessed_by(port: int) -> HubConfig:
        return dataclasses.replace(
            hub_cfg, witnesses=(f"https://127.0.0.1:{port}",), witness_ca=(pki / "ca.pem",),
            witness_keys=(str(signer.verifier()),), witness_retry_seconds=0.2,
        )  # fmt: skip

    return signer, trust, witness_config(tmp_path / "w", pki, signer, trust), witnessed_by


def test_hub_gets_its_checkpoints_witnessed_and_a_quorum_node_waits_for_them(
    tmp_path: Path, pki: Path
) -> None:
    signer, trust, wcfg, witnessed_by = _witnessed_hub(tmp_path, pki)
    need_witness = dataclasses.replace(trust, witness_keys=(signer.verifier(),), witness_quorum=1)
    clock = SystemClock()
    with running_witness(wcfg) as wport:
        hub_cfg = witnessed_by(wport)
        with hub_running(hub_cfg) as running, client(running.port, pki, "operator") as op:
            op.create_list(LIST)
            op.grant(LIST, "facebook", new_partner=True)
            op.publish(LIST, ["md5:" + "1" * 32])
            with node_syncer(tmp_path / "node", pki, running.port, need_witness, clock) as (
                syncer, store,
            ):  # fmt: skip
                _until(lambda: syncer.sync(LIST))
                assert store.state(LIST).size == 1
                wport_gone = wport
    # The witness is gone: a new version is signed, but not witnessed.
    with hub_running(hub_cfg) as running, client(running.port, pki, "operator") as op:
        op.publish(LIST, ["md5:" + "2" * 32])
        with node_syncer(tmp_path / "node", pki, running.port, need_witness, clock) as (
            syncer, store,
        ):  # fmt: skip
            refreshes: list[int] = []
            real_refresh = syncer.refresh_trust

            def counted() -> bool:
                refreshes.append(1)
                return real_refresh()

            syncer.refresh_trust = counted  # type: ignore[method-assign]
            assert syncer.sync(LIST) is False
            assert store.record(LIST).alarm == ""  # pending its witness: not an alarm ...
            assert refreshes == []  # ... and no reason to look for a new trust root
            assert store.state(LIST).size == 1
            # The witness comes back (same port): the hub retries and the node moves on.
            wcfg_back = dataclasses.replace(wcfg, listen=f"127.0.0.1:{wport_gone}")
            with running_witness(wcfg_back):
                _until(lambda: syncer.sync(LIST))
            assert store.state(LIST).size == 2


def _until(ok: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_a_witnessed_publication_is_announced_once_with_its_cosignature(
    tmp_path: Path, pki: Path
) -> None:
    signer, trust, wcfg, witnessed_by = _witnessed_hub(tmp_path, pki)
    with running_witness(wcfg) as wport, hub_running(witnessed_by(wport)) as running:
        op = client(running.port, pki, "operator")
        op.create_list(LIST)
        op.grant(LIST, "facebook", new_partner=True)
        with client(running.port, pki, "facebook") as fb:
            stream = fb.subscribe([LIST])
            notes: list[bytes] = []

            def read() -> None:
                with contextlib.suppress(UnavailableError):  # cancelled at the end
                    notes.extend(n for _, n in stream)

            reader = threading.Thread(target=read)
            reader.start()
            time.sleep(1.0)  # the current note arrives first
            op.publish(LIST, ["md5:" + "1" * 32])
            time.sleep(2.0)  # the witness answers within this
            stream.cancel()
            reader.join()
        op.close()
    sizes = [verify_checkpoint(n, trust, trust.origin(LIST)).checkpoint.size for n in notes]
    assert sizes.count(1) == 1, sizes  # announced once ...
    [announced] = [n for n, size in zip(notes, sizes, strict=True) if size == 1]
    _, verified = open_note(announced, [signer.verifier()])
    assert signer.verifier() in verified  # ... with the witness's cosignature


def _reply(witness: Signer, note: bytes, when: int) -> bytes:
    """What an honest witness answers for ``note``, at time ``when``."""
    return cosign(note, [witness], when).rsplit(b"\n", 2)[-2] + b"\n"


@pytest.mark.parametrize("lie", ["log key's name", "other checkpoint", "clock ahead",
                                 "huge", "not a line", "another key"])  # fmt: skip
def test_the_hub_uses_no_lying_witness_reply(keys: Keys, lie: str) -> None:
    log = _grown(keys, 2)
    note = log.signed_checkpoint(NOW)
    witness = keys.witnesses[0]
    assert check_cosignature(_reply(witness, note, NOW), note, witness.verifier(), now=NOW,
                             skew=300)  # the honest reply is used  # fmt: skip
    other = _grown(keys, 3).signed_checkpoint(NOW)
    reply = {
        "log key's name": _reply(Signer.generate(keys.log.name, COSIGNATURE_V1), note, NOW),
        "other checkpoint": _reply(witness, other, NOW),
        "clock ahead": _reply(witness, note, NOW + 600),
        "huge": b"\xe2\x80\x94 witness1.example " + b"A" * 70_000 + b"\n",
        "not a line": b"<html>oops</html>",
        "another key": _reply(keys.witnesses[1], note, NOW),
    }[lie]
    with pytest.raises(BadWitnessError):
        check_cosignature(reply, note, witness.verifier(), now=NOW, skew=300)


def test_a_line_named_like_the_log_key_never_replaces_its_signature(keys: Keys) -> None:
    note = _grown(keys, 2).signed_checkpoint(NOW)
    impostor = Signer.generate(keys.log.name, COSIGNATURE_V1)  # same name, another key
    joined = cosigned_note(note, [_reply(impostor, note, NOW)])
    trust = keys.trust()
    assert verify_checkpoint(joined, trust, trust.origin(LIST)).log_keys == (keys.log.name,)
