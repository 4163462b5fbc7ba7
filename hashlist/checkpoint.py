"""C2SP tlog-checkpoint bodies, signed by the log key and cosigned with timestamps.

A checkpoint body is exactly three lines: the origin, the tree size in
decimal (no leading zeros), and the root hash in standard base64. hashlist
checkpoints carry no extension lines, and ``Checkpoint.parse`` refuses them,
so one body has one meaning.

``verify_checkpoint`` is pure: it opens the signed note with the trust root's
keys, requires a valid log-key signature, checks the origin and the witness
quorum, and reports each valid cosignature's time (the hub's timestamp key's
and each witness's). Freshness against a clock is the caller's
(``verify.check_time``), with the time passed in.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from hashlist.errors import MalformedNoteError, OriginMismatchError, QuorumError, UnknownKeyError
from hashlist.merkle import HASH_SIZE
from hashlist.note import (
    ED25519,
    Note,
    NoteSignature,
    Signer,
    cosignature_timestamp,
    open_note,
    parse_note,
    sign_note,
)
from hashlist.trustroot import TrustRoot

_BODY = re.compile(rb"([^\n]+)\n(0|[1-9][0-9]{0,18})\n([A-Za-z0-9+/]{43}=)\n")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> bytes:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n".encode()

    @classmethod
    def parse(cls, body: bytes) -> Checkpoint:
        match = _BODY.fullmatch(body)
        if match is None:
            raise MalformedNoteError(
                "checkpoint body must be exactly three lines: origin, size, base64 root"
            )
        origin = match.group(1).decode("utf-8")
        if origin != origin.strip():
            raise MalformedNoteError(f"checkpoint origin {origin!r} has surrounding spaces")
        try:
            root = base64.b64decode(match.group(3), validate=True)
        except binascii.Error as e:
            raise MalformedNoteError("checkpoint root is not valid base64") from e
        if len(root) != HASH_SIZE or base64.b64encode(root) != match.group(3):
            raise MalformedNoteError("checkpoint root is not a canonical base64 SHA-256 hash")
        return cls(origin, int(match.group(2)), root)


@dataclass(frozen=True, slots=True)
class VerifiedCheckpoint:
    """A checkpoint whose signatures satisfied a trust root."""

    checkpoint: Checkpoint
    note: bytes  # the signed note exactly as received: evidence
    log_keys: tuple[str, ...]  # names of the log keys that signed
    witnesses: tuple[str, ...]  # names of witnesses whose cosignatures verified
    cosigned_at: int | None  # newest valid cosignature timestamp (timestamp key or witness)
    timestamped_at: int | None = None  # the hub's own timestamp key's cosignature, if any
    witness_times: tuple[tuple[str, int], ...] = ()  # each valid witness cosignature's time
    bad_witnesses: tuple[tuple[str, str], ...] = ()  # (witness, why its line was not counted)


def sign_checkpoint(checkpoint: Checkpoint, log_signers: list[Signer]) -> bytes:
    """The signed note of ``checkpoint`` by the log key(s)."""
    return sign_note(checkpoint.body(), log_signers)


def cosign(note: bytes, cosigners: list[Signer], timestamp: int) -> bytes:
    """Append cosignature/v1 lines dated ``timestamp`` to a signed checkpoint note.

    An earlier cosignature by the same key is replaced, so a note carries each
    cosigner's newest statement once.
    """
    parsed = parse_note(note)
    fresh = [
        NoteSignature(c.name, c.verifier().key_id, c.sign(parsed.text, timestamp=timestamp))
        for c in cosigners
    ]
    return parsed.replacing(fresh).encode()


def verify_checkpoint(note: bytes, trust: TrustRoot, origin: str) -> VerifiedCheckpoint:
    """Verify a signed checkpoint for ``origin`` against ``trust``; see the module docstring.

    The log keys and the hub's timestamp key are held strictly: one of their
    signatures failing refuses the note. A witness's line that fails is not
    counted and is named in ``bad_witnesses``: one witness cannot make a
    checkpoint that has its quorum from the others unusable.
    """
    hub_keys = [*trust.log_keys, trust.timestamp_key]
    opened, verified = open_note(note, hub_keys)
    log_keys = tuple(v.name for v in verified if v.sig_type == ED25519 and v in trust.log_keys)
    if not log_keys:
        raise UnknownKeyError(f"checkpoint for {origin} is not signed by a trusted log key")
    checkpoint = Checkpoint.parse(opened.text)
    if checkpoint.origin != origin:
        raise OriginMismatchError(f"checkpoint is for {checkpoint.origin!r}, expected {origin!r}")
    witness_times, bad = _witness_lines(opened, trust)
    if len(witness_times) < trust.witness_quorum:
        raise QuorumError(
            f"checkpoint has {len(witness_times)} valid witness cosignature(s), "
            f"the trust root requires {trust.witness_quorum}"
        )
    stamp = verified.get(trust.timestamp_key)
    timestamped_at = cosignature_timestamp(stamp) if stamp is not None else None
    times = [t for _, t in witness_times] + ([timestamped_at] if timestamped_at else [])
    return VerifiedCheckpoint(
        checkpoint=checkpoint,
        note=note,
        log_keys=log_keys,
        witnesses=tuple(name for name, _ in witness_times),
        cosigned_at=max(times) if times else None,
        timestamped_at=timestamped_at,
        witness_times=witness_times,
        bad_witnesses=bad,
    )


def _witness_lines(
    opened: Note, trust: TrustRoot
) -> tuple[tuple[tuple[str, int], ...], tuple[tuple[str, str], ...]]:
    """(valid witness cosignatures with their times, witnesses whose line failed)."""
    keys = {(v.name, v.key_id): v for v in trust.witness_keys}
    good: dict[str, int] = {}
    bad: dict[str, str] = {}
    for sig in opened.signatures:
        key = keys.get((sig.name, sig.key_id))
        if key is None or key.name in good:
            continue
        if key.verify(opened.text, sig.signature):
            good[key.name] = cosignature_timestamp(sig)
            bad.pop(key.name, None)
        else:
            bad[key.name] = "its cosignature does not verify"
    return tuple(good.items()), tuple(bad.items())
