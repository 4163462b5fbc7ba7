"""C2SP signed notes: the spec's example, key formats, and verification rules."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from hashlist.errors import BadSignatureError, KeyFormatError, MalformedNoteError
from hashlist.note import (
    COSIGNATURE_V1,
    ED25519,
    Note,
    NoteSignature,
    Signer,
    Verifier,
    cosignature_timestamp,
    open_note,
    parse_note,
    sign_note,
)


def _example(vectors: Path) -> tuple[Verifier, bytes]:
    data = json.loads((vectors / "signed-note.json").read_text())
    note = (data["text"] + "\n" + data["signature_line"] + "\n").encode()
    return Verifier.from_string(data["verifier_key"]), note


def test_c2sp_example_verifies(vectors: Path) -> None:
    verifier, note = _example(vectors)
    assert verifier.sig_type == ED25519
    assert str(verifier) == json.loads((vectors / "signed-note.json").read_text())["verifier_key"]
    opened, signed = open_note(note, [verifier])
    assert opened.text == b"This is an example message.\n"
    assert list(signed) == [verifier]


def test_c2sp_example_fails_after_flipping_any_byte(vectors: Path) -> None:
    verifier, note = _example(vectors)
    text_end = note.index(b"\n\n") + 1
    sig_line = note.rindex(b" ") + 1  # base64 of key id || signature
    blob = base64.b64decode(note[sig_line:-1])
    for i in range(text_end):
        bad = bytearray(note)
        bad[i] ^= 0x01
        with pytest.raises((BadSignatureError, MalformedNoteError)):
            open_note(bytes(bad), [verifier])
    for i in range(4, len(blob)):  # the signature proper, after the 4-byte key id
        flipped = bytearray(blob)
        flipped[i] ^= 0x01
        bad_note = note[:sig_line] + base64.b64encode(bytes(flipped)) + b"\n"
        with pytest.raises(BadSignatureError):
            open_note(bad_note, [verifier])
    for i in range(4):  # a flipped key id makes the key unknown: no trusted signature
        flipped = bytearray(blob)
        flipped[i] ^= 0x01
        bad_note = note[:sig_line] + base64.b64encode(bytes(flipped)) + b"\n"
        with pytest.raises(BadSignatureError, match="not signed by any trusted key"):
            open_note(bad_note, [verifier])


def test_key_strings_round_trip() -> None:
    for sig_type in (ED25519, COSIGNATURE_V1):
        signer = Signer.generate("example.com/key", sig_type)
        again = Signer.from_string(str(signer))
        assert again.verifier() == signer.verifier()
        assert Verifier.from_string(str(signer.verifier())) == signer.verifier()
        assert "PRIVATE" not in repr(signer)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("example.com+00000000", "not 'name\\+keyid\\+base64'"),
        ("example.com+00000000+!!!", "not valid base64"),
        ("example.com+00000000+AQ==", "32 bytes"),
        ("a b+00000000+AQ==", "no spaces"),
    ],
)
def test_bad_verifier_keys_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(KeyFormatError, match=message):
        Verifier.from_string(text)


def test_verifier_key_id_must_match() -> None:
    good = str(Signer.generate("example.com/k").verifier())
    name, _, blob = good.split("+", 2)
    with pytest.raises(KeyFormatError, match="does not match"):
        Verifier.from_string(f"{name}+deadbeef+{blob}")


def test_unknown_keys_are_ignored_and_known_bad_signatures_fail() -> None:
    known, stranger = Signer.generate("a.example/k"), Signer.generate("b.example/k")
    text = b"hello\n"
    note = sign_note(text, [stranger, known])
    _, signed = open_note(note, [known.verifier()])
    assert list(signed) == [known.verifier()]

    # Same name, different key (so a different key id): unknown, ignored.
    impostor = Signer.generate("a.example/k")
    note = sign_note(text, [impostor, known])
    open_note(note, [known.verifier()])

    # Same name and key id, wrong signature: the whole note is refused.
    parsed = parse_note(sign_note(text, [known]))
    forged = NoteSignature(known.name, parsed.signatures[0].key_id, impostor.sign(text))
    with pytest.raises(BadSignatureError, match="does not verify"):
        open_note(Note(text, (parsed.signatures[0], forged)).encode(), [known.verifier()])

    with pytest.raises(BadSignatureError, match="not signed by any trusted key"):
        open_note(sign_note(text, [stranger]), [known.verifier()])


def test_limits_are_enforced_before_verification() -> None:
    signer = Signer.generate("a.example/k")
    note = sign_note(b"x\n", [signer] * 17)
    open_note(note, [signer.verifier()])  # at least 16 must be accepted
    with pytest.raises(MalformedNoteError, match="over the limit of 16"):
        open_note(note, [signer.verifier()], max_signatures=16)
    with pytest.raises(MalformedNoteError, match="over the 100-byte limit"):
        open_note(note, [signer.verifier()], max_bytes=100)


@pytest.mark.parametrize(
    "data",
    [
        b"no blank line\n\xe2\x80\x94 a 1234\n",
        b"text\n\n",
        b"text\n\n\xe2\x80\x94 a AAAA\n",  # signature too short
        b"text\n\n- a AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",  # not an em dash
        b"te\x01xt\n\n\xe2\x80\x94 a AAAAAAAA\n",  # control character
        b"\xff\n\n\xe2\x80\x94 a AAAAAAAA\n",  # not UTF-8
    ],
)
def test_malformed_notes(data: bytes) -> None:
    with pytest.raises(MalformedNoteError):
        parse_note(data)


def test_cosignature_v1_signs_the_timestamped_message() -> None:
    cosigner = Signer.generate("witness.example/w1", COSIGNATURE_V1)
    body = b"example.com/log\n5\n" + base64.b64encode(b"\x00" * 32) + b"\n"
    sig = cosigner.sign(body, timestamp=1_700_000_000)
    assert cosignature_timestamp(NoteSignature(cosigner.name, 0, sig)) == 1_700_000_000
    assert cosigner.verifier().verify(body, sig)
    # Changing the timestamp invalidates the signature: the time is signed.
    assert not cosigner.verifier().verify(body, (1_700_000_001).to_bytes(8, "big") + sig[8:])
    # The cosigner's key id uses type 0x04, distinct from an Ed25519 key's.
    as_plain = Verifier(cosigner.name, ED25519, cosigner.verifier().public_key)
    assert as_plain.key_id != cosigner.verifier().key_id
