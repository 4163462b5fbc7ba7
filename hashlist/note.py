"""C2SP signed notes with Ed25519 (type 0x01) and cosignature/v1 (type 0x04) keys.

A note is text ending in a newline, a blank line, and signature lines
``— <key name> base64(key id || signature)``. Key ids are
``SHA-256(name || 0x0A || type || public key)[:4]``. Verifier keys are written
``name+<8 hex key id>+base64(type || public key)``; signer keys
``PRIVATE+KEY+name+<8 hex key id>+base64(type || 32-byte seed)``.

Invariants:

* ``open_note`` verifies before anything parses the text: callers get the text
  only together with the keys that signed it.
* Signatures whose (name, key id) match no known key are ignored, as the spec
  requires; a signature that matches a known key and fails is a
  ``BadSignatureError`` for the whole note.
* Size and signature-count limits are applied before any base64 or
  signature work, so a hostile note costs at most ``max_signatures``
  verifications.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hashlist.errors import BadSignatureError, KeyFormatError, MalformedNoteError, UnknownKeyError

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
_SIGNATURE_SIZES = {ED25519: 64, COSIGNATURE_V1: 8 + 64}
_KEY_NAME = re.compile(r"[^\s+]+")
_EM_DASH = "\u2014"

DEFAULT_MAX_NOTE_BYTES = 64 * 1024
DEFAULT_MAX_SIGNATURES = 32  # the spec asks verifiers to accept at least 16


def key_id(name: str, sig_type: int, public_key: bytes) -> int:
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _check_name(name: str) -> str:
    if not _KEY_NAME.fullmatch(name):
        raise KeyFormatError(f"key name {name!r} must be non-empty with no spaces or '+'")
    return name


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise KeyFormatError(f"{what} is not valid base64") from e


@dataclass(frozen=True, slots=True)
class Verifier:
    """A public key that may sign notes: Ed25519 (0x01) or cosignature/v1 (0x04)."""

    name: str
    sig_type: int
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.sig_type not in _SIGNATURE_SIZES:
            raise KeyFormatError(f"key {self.name!r}: unsupported signature type {self.sig_type}")
        if len(self.public_key) != 32:
            raise KeyFormatError(f"key {self.name!r}: an Ed25519 public key is 32 bytes")

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.sig_type, self.public_key)

    def __str__(self) -> str:
        blob = base64.b64encode(bytes([self.sig_type]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{blob}"

    @classmethod
    def from_string(cls, text: str) -> Verifier:
        # base64 may contain '+', names and hex ids may not: split twice only.
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise KeyFormatError(f"verifier key {text[:60]!r} is not 'name+keyid+base64'")
        name, hex_id, blob = parts
        raw = _b64decode(blob, f"verifier key {name!r}")
        if not raw:
            raise KeyFormatError(f"verifier key {name!r} has no key material")
        verifier = cls(name, raw[0], raw[1:])
        if not re.fullmatch(r"[0-9a-f]{8}", hex_id) or int(hex_id, 16) != verifier.key_id:
            raise KeyFormatError(
                f"verifier key {name!r}: key id {hex_id!r} does not match its key "
                f"(expected {verifier.key_id:08x})"
            )
        return verifier

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (without key id) is valid over ``message``."""
        if len(signature) != _SIGNATURE_SIZES[self.sig_type]:
            return False
        if self.sig_type == COSIGNATURE_V1:
            timestamp = int.from_bytes(signature[:8], "big")
            if timestamp >= 2**63:
                return False
            message = cosignature_message(message, timestamp)
            signature = signature[8:]
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private key that signs notes; ``sig_type`` as for ``Verifier``."""

    name: str
    sig_type: int
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str, sig_type: int = ED25519) -> Signer:
        return cls(_check_name(name), sig_type, Ed25519PrivateKey.generate())

    @classmethod
    def from_string(cls, text: str) -> Signer:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise KeyFormatError("signer key is not 'PRIVATE+KEY+name+keyid+base64'")
        name, blob = parts[2], parts[4]
        raw = _b64decode(blob, f"signer key {name!r}")
        if len(raw) != 33 or raw[0] not in _SIGNATURE_SIZES:
            raise KeyFormatError(f"signer key {name!r} is not a type byte and a 32-byte seed")
        signer = cls(_check_name(name), raw[0], Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if parts[3] != f"{signer.verifier().key_id:08x}":
            raise KeyFormatError(f"signer key {name!r}: key id does not match its key")
        return signer

    def __str__(self) -> str:
        # Writing the private key is deliberate only: repr() never shows it.
        seed = self.private_key.private_bytes_raw()
        blob = base64.b64encode(bytes([self.sig_type]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier().key_id:08x}+{blob}"

    def __repr__(self) -> str:
        return f"Signer(name={self.name!r}, sig_type={self.sig_type})"

    def verifier(self) -> Verifier:
        return Verifier(self.name, self.sig_type, self.private_key.public_key().public_bytes_raw())

    def sign(self, text: bytes, *, timestamp: int | None = None) -> bytes:
        """The signature (without key id) over note text ``text``."""
        if self.sig_type == COSIGNATURE_V1:
            if timestamp is None or not 0 <= timestamp < 2**63:
                raise ValueError("a cosignature needs a timestamp in [0, 2^63)")
            message = cosignature_message(text, timestamp)
            return timestamp.to_bytes(8, "big") + self.private_key.sign(message)
        return self.private_key.sign(text)


def cosignature_message(checkpoint_body: bytes, timestamp: int) -> bytes:
    """What a cosignature/v1 signs (C2SP tlog-cosignature)."""
    return b"cosignature/v1\ntime %d\n" % timestamp + checkpoint_body


@dataclass(frozen=True, slots=True)
class NoteSignature:
    name: str
    key_id: int
    signature: bytes  # without the 4-byte key id

    def line(self) -> str:
        blob = base64.b64encode(self.key_id.to_bytes(4, "big") + self.signature).decode()
        return f"{_EM_DASH} {self.name} {blob}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A parsed note: its text (with final newline) and every signature line."""

    text: bytes
    signatures: tuple[NoteSignature, ...]

    def encode(self) -> bytes:
        return self.text + b"\n" + "".join(s.line() for s in self.signatures).encode()

    def replacing(self, signatures: Sequence[NoteSignature]) -> Note:
        """This note with ``signatures`` added, each replacing an earlier one by the same
        key (name and key id): a line merely named like another key replaces nothing."""
        keys = {(s.name, s.key_id) for s in signatures}
        kept = [s for s in self.signatures if (s.name, s.key_id) not in keys]
        return Note(self.text, (*kept, *signatures))


def sign_note(text: bytes, signers: list[Signer], *, timestamp: int | None = None) -> bytes:
    """Sign ``text`` with every signer; returns the full signed note bytes."""
    sigs = tuple(
        NoteSignature(s.name, s.verifier().key_id, s.sign(text, timestamp=timestamp))
        for s in signers
    )
    return Note(text, sigs).encode()


def parse_note(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_NOTE_BYTES,
    max_signatures: int = DEFAULT_MAX_SIGNATURES,
) -> Note:
    """Split a signed note into text and signature lines, checking only structure."""
    if len(data) > max_bytes:
        raise MalformedNoteError(f"note is {len(data)} bytes, over the {max_bytes}-byte limit")
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedNoteError("note is not valid UTF-8") from e
    if any(c < " " and c != "\n" for c in decoded):
        raise MalformedNoteError("note contains a control character other than newline")
    split = data.rfind(b"\n\n")
    if split < 0 or not data.endswith(b"\n"):
        raise MalformedNoteError("note has no blank line before its signatures")
    text, sig_block = data[: split + 1], data[split + 2 :]
    lines = sig_block.decode().split("\n")[:-1]
    if not lines:
        raise MalformedNoteError("note has no signatures")
    if len(lines) > max_signatures:
        raise MalformedNoteError(
            f"note has {len(lines)} signatures, over the limit of {max_signatures}"
        )
    return Note(text, tuple(parse_signature_line(line) for line in lines))


def parse_signature_line(line: str) -> NoteSignature:
    """One ``— name base64`` line (without its newline), checking only its structure."""
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != _EM_DASH:
        raise MalformedNoteError(f"bad signature line {line[:80]!r}")
    try:
        name = _check_name(parts[1])
        raw = _b64decode(parts[2], f"signature of {name!r}")
    except KeyFormatError as e:
        raise MalformedNoteError(str(e)) from e
    if len(raw) < 5:
        raise MalformedNoteError(f"signature of {name!r} is too short")
    return NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def open_note(
    data: bytes,
    verifiers: list[Verifier],
    *,
    max_bytes: int = DEFAULT_MAX_NOTE_BYTES,
    max_signatures: int = DEFAULT_MAX_SIGNATURES,
) -> tuple[Note, dict[Verifier, NoteSignature]]:
    """Verify ``data`` against ``verifiers``.

    Returns the note and, for each known key that signed, its signature. Raises
    ``BadSignatureError`` if a known key's signature fails, ``UnknownKeyError``
    if no known key signed at all. Every line from a known key is checked; a key that signed
    twice is counted once.
    """
    note = parse_note(data, max_bytes=max_bytes, max_signatures=max_signatures)
    known = {(v.name, v.key_id): v for v in verifiers}
    verified: dict[Verifier, NoteSignature] = {}
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(note.text, sig.signature):
            raise BadSignatureError(f"signature by {sig.name} ({sig.key_id:08x}) does not verify")
        verified.setdefault(verifier, sig)
    if not verified:
        names = ", ".join(sorted({v.name for v in verifiers})) or "none"
        raise UnknownKeyError(f"note is not signed by any trusted key (trusted: {names})")
    return note, verified


def cosignature_timestamp(sig: NoteSignature) -> int:
    """The timestamp of a verified cosignature/v1 signature."""
    return int.from_bytes(sig.signature[:8], "big")
