"""The witness's decision, and the C2SP tlog-witness wire format, without IO.

A witness cosigns a checkpoint only if it extends, by a verified RFC 6962
consistency proof, the last checkpoint the witness cosigned for that origin.
It therefore never cosigns two inconsistent histories of one log, so a node
that requires a witness quorum cannot be shown a fork that the witnesses did
not all see.

``add_checkpoint`` is pure: the request bytes, the witness's last state for
the origin, the trusted logs, the cosigner and the time all come in; a
``Cosigned`` result or one typed error comes out. The order of the checks is
the protocol's, and each maps to one HTTP status (``http_status``):

====  =================================================================
400   malformed request, or ``old`` larger than the checkpoint's size
403   not signed by a trusted key of the log (``BadSignatureError``)
404   an origin this witness does not follow (``NotFoundError``)
409   ``old`` is not the size last cosigned (``WitnessConflictError``)
422   the consistency proof fails: an inconsistent history (``BadProofError``)
====  =================================================================

Request body (``POST /add-checkpoint``)::

    old <size>\\n
    <base64 proof hash>\\n ... (one per line)
    \\n
    <signed checkpoint note>
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hashlist.checkpoint import Checkpoint
from hashlist.errors import (
    BadProofError,
    BadSignatureError,
    BadWitnessError,
    HashlistError,
    InputError,
    MalformedNoteError,
    NotFoundError,
    TrustRootError,
    WitnessConflictError,
)
from hashlist.merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency
from hashlist.note import (
    COSIGNATURE_V1,
    NoteSignature,
    Signer,
    Verifier,
    cosignature_timestamp,
    open_note,
    parse_note,
    parse_signature_line,
)
from hashlist.trustroot import TrustRoot

MAX_PROOF_HASHES = 64  # a consistency proof of any 2^63-leaf tree is shorter
MAX_REQUEST_BYTES = 64 * 1024
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_OLD = re.compile(rb"old (0|[1-9][0-9]{0,18})\n")
_ORIGIN = re.compile(r"(?P<hub>[^/]+(?:/[^/]+)*)/lists/(?P<list>[^/]+)")


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    old_size: int
    proof: tuple[bytes, ...]
    note: bytes

    def encode(self) -> bytes:
        lines = [b"old %d\n" % self.old_size]
        lines += [base64.b64encode(h) + b"\n" for h in self.proof]
        return b"".join(lines) + b"\n" + self.note


@dataclass(frozen=True, slots=True)
class Witnessed:
    """The last checkpoint a witness cosigned for one origin."""

    size: int
    root: bytes


@dataclass(frozen=True, slots=True)
class Cosigned:
    checkpoint: Checkpoint
    signature_line: bytes  # one "— name base64" line, cosignature/v1, dated ``now``


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Split a request body; ``InputError`` (400) when it is not well formed."""
    if len(body) > MAX_REQUEST_BYTES:
        raise InputError(f"request is {len(body)} bytes, over the {MAX_REQUEST_BYTES} limit")
    head, sep, note = body.partition(b"\n\n")
    if not sep:
        raise InputError("request has no blank line between the proof and the checkpoint")
    lines = (head + b"\n").split(b"\n")[:-1]
    match = _OLD.fullmatch(lines[0] + b"\n")
    if match is None:
        raise InputError("request must start with 'old <size>' in decimal")
    if len(lines) - 1 > MAX_PROOF_HASHES:
        raise InputError(f"proof has {len(lines) - 1} hashes, over the {MAX_PROOF_HASHES} limit")
    proof = []
    for line in lines[1:]:
        try:
            h = base64.b64decode(line, validate=True)
        except binascii.Error as e:
            raise InputError("a proof line is not base64") from e
        if len(h) != HASH_SIZE:
            raise InputError(f"a proof hash is {len(h)} bytes, not {HASH_SIZE}")
        proof.append(h)
    return AddCheckpoint(int(match.group(1)), tuple(proof), note)


def add_checkpoint(
    request: AddCheckpoint,
    *,
    logs: Mapping[str, TrustRoot],
    last: Witnessed | None,
    cosigner: Signer,
    now: int,
) -> Cosigned:
    """Decide one request; see the module docstring for the checks and errors.

    ``logs`` maps a hub name to the trust root naming its log keys; ``last``
    is what this witness cosigned for the checkpoint's origin (None: never).
    """
    checkpoint = _verify_signed(request.note, logs)
    old, size = request.old_size, checkpoint.size
    if old > size:
        raise InputError(f"old size {old} is larger than the checkpoint's size {size}")
    known = last.size if last is not None else 0
    if old != known:
        raise WitnessConflictError(
            f"{checkpoint.origin}: this witness last cosigned size {known}, not {old}", size=known
        )
    if last is None or last.size == 0:
        if request.proof:
            raise BadProofError("a checkpoint extending size 0 needs an empty proof")
        if size == 0 and checkpoint.root != EMPTY_ROOT:
            raise BadProofError("a size-0 checkpoint must have the empty tree's root")
    else:
        verify_consistency(last.size, size, request.proof, last.root, checkpoint.root)
    signature = NoteSignature(
        cosigner.name,
        cosigner.verifier().key_id,
        cosigner.sign(checkpoint.body(), timestamp=now),
    )
    return Cosigned(checkpoint, signature.line().encode())


def http_status(error: HashlistError) -> int:
    """The tlog-witness status code of a refusal raised by ``add_checkpoint``."""
    if isinstance(error, WitnessConflictError):
        return 409
    if isinstance(error, BadProofError):
        return 422
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, BadSignatureError | MalformedNoteError):
        return 403
    return 400


def _verify_signed(note: bytes, logs: Mapping[str, TrustRoot]) -> Checkpoint:
    # The origin is read from the unverified text only to choose the keys;
    # the checkpoint returned is parsed from text those keys signed.
    first_line = note.split(b"\n", 1)[0].decode("utf-8", "replace")
    match = _ORIGIN.fullmatch(first_line)
    trust = logs.get(match.group("hub")) if match else None
    if trust is None:
        raise NotFoundError(f"this witness does not follow the log {first_line[:200]!r}")
    opened, _ = open_note(note, list(trust.log_keys))  # raises unless a log key signed
    checkpoint = Checkpoint.parse(opened.text)
    try:
        trust.list_of(checkpoint.origin)
    except TrustRootError as e:
        raise NotFoundError(f"this witness does not follow the log {checkpoint.origin!r}") from e
    return checkpoint


MAX_COSIGNATURE_LINE = 512
"""A cosignature/v1 line is about 120 bytes; a witness's reply beyond this is refused."""


def check_cosignature(
    reply: bytes, note: bytes, witness: Verifier, *, now: int, skew: int
) -> bytes:
    """``reply`` as a cosignature line the hub may serve with ``note``, or ``BadWitnessError``.

    Pure. A witness's answer is used only if it is one line, within the size
    bound, by exactly that witness's configured key (name and key id), a
    valid ``cosignature/v1`` over exactly the checkpoint sent, dated within
    ``skew`` of ``now``.
    """
    if len(reply) > MAX_COSIGNATURE_LINE:
        raise BadWitnessError(f"{witness.name} replied {len(reply)} bytes, not one cosignature")
    try:
        sig = parse_signature_line(reply.decode("utf-8").rstrip("\n"))
    except (UnicodeDecodeError, MalformedNoteError) as e:
        raise BadWitnessError(f"{witness.name} replied with no cosignature line: {e}") from e
    if (sig.name, sig.key_id) != (witness.name, witness.key_id):
        raise BadWitnessError(f"{witness.name} replied with a line for another key, {sig.name!r}")
    if witness.sig_type != COSIGNATURE_V1 or not witness.verify(parse_note(note).text,
                                                                  sig.signature):  # fmt: skip
        raise BadWitnessError(f"{witness.name}'s cosignature does not verify for this checkpoint")
    when = cosignature_timestamp(sig)
    if abs(when - now) > skew:
        raise BadWitnessError(
            f"{witness.name}'s cosignature is dated {when - now:+d} s from the hub's clock "
            f"(allowed skew {skew} s)"
        )
    return reply.rstrip(b"\n") + b"\n"


def cosigned_note(note: bytes, lines: Sequence[bytes]) -> bytes:
    """``note`` with witness signature lines appended (each key's newest kept once)."""
    added = [parse_signature_line(line.decode("utf-8").rstrip("\n")) for line in lines]
    return parse_note(note).replacing(added).encode()
