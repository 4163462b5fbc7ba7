"""Checkpoint bodies and their verification against a trust root."""

from __future__ import annotations

import base64

import pytest

from hashlist.checkpoint import Checkpoint, cosign, sign_checkpoint, verify_checkpoint
from hashlist.errors import BadSignatureError, MalformedNoteError, OriginMismatchError, QuorumError
from hashlist.note import Signer, parse_note
from tests.conftest import Keys

ORIGIN = "hub.example/lists/takeitdown"
ROOT = bytes(range(32))


def test_body_round_trip() -> None:
    cp = Checkpoint(ORIGIN, 5, ROOT)
    assert cp.body() == f"{ORIGIN}\n5\n{base64.b64encode(ROOT).decode()}\n".encode()
    assert Checkpoint.parse(cp.body()) == cp


@pytest.mark.parametrize(
    "body",
    [
        f"{ORIGIN}\n05\n{base64.b64encode(ROOT).decode()}\n",  # leading zero
        f"{ORIGIN}\n5\n{base64.b64encode(ROOT[:31]).decode()}\n",  # short root
        f"{ORIGIN}\n5\n{base64.b64encode(ROOT).decode()}\nextension\n",  # extension line
        f"{ORIGIN}\n5\n{base64.b64encode(ROOT).decode()}",  # no final newline
        f" {ORIGIN}\n5\n{base64.b64encode(ROOT).decode()}\n",  # padded origin
        f"{ORIGIN}\n-5\n{base64.b64encode(ROOT).decode()}\n",
    ],
)
def test_non_canonical_bodies_are_refused(body: str) -> None:
    with pytest.raises(MalformedNoteError):
        Checkpoint.parse(body.encode())


def test_verify_reports_signers_and_newest_cosignature(keys: Keys) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 5, ROOT), [keys.log])
    note = cosign(note, [keys.timestamp], 1000)
    note = cosign(note, [keys.witnesses[0]], 1005)
    verified = verify_checkpoint(note, keys.trust(quorum=1), ORIGIN)
    assert verified.checkpoint.size == 5
    assert verified.log_keys == (keys.log.name,)
    assert verified.witnesses == (keys.witnesses[0].name,)
    assert verified.cosigned_at == 1005
    # Re-cosigning replaces the earlier line by the same key.
    again = cosign(note, [keys.timestamp], 2000)
    assert len(parse_note(again).signatures) == 3
    assert verify_checkpoint(again, keys.trust(), ORIGIN).cosigned_at == 2000


def test_verify_failures(keys: Keys) -> None:
    note = cosign(sign_checkpoint(Checkpoint(ORIGIN, 5, ROOT), [keys.log]), [keys.timestamp], 1000)
    with pytest.raises(OriginMismatchError, match=r"expected 'hub\.example/lists/stopncii'"):
        verify_checkpoint(note, keys.trust(), "hub.example/lists/stopncii")
    with pytest.raises(
        QuorumError, match=r"0 valid witness cosignature\(s\), the trust root requires 1"
    ):
        verify_checkpoint(note, keys.trust(quorum=1), ORIGIN)
    # An impostor log key (same name, other key) is ignored; the valid timestamp
    # cosignature alone cannot stand in for the log key.
    impostor = Signer.generate(keys.log.name)
    only_cosigned = cosign(
        sign_checkpoint(Checkpoint(ORIGIN, 5, ROOT), [impostor]), [keys.timestamp], 1
    )
    with pytest.raises(BadSignatureError, match="not signed by a trusted log key"):
        verify_checkpoint(only_cosigned, keys.trust(), ORIGIN)
