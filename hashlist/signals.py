"""Signals: the kinds of hash a list can hold, and their canonical text form.

A signal is written ``kind:hex``. The canonical form, which is what the log
hashes and what the LtHash state digest is computed over, is the kind name in
lowercase, a colon, and exactly ``2 * nbytes`` lowercase hex digits.

``parse_signal`` accepts what a person might type (upper-case hex, surrounding
whitespace) and returns the canonical form; anything else is an
``InvalidSignalError`` naming the value and what is wrong with it. The delta
decoder does not use it: it accepts canonical bytes only (see ``delta.py``).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import NewType

from hashlist.errors import InvalidSignalError

SignalText = NewType("SignalText", str)
"""A signal in canonical ``kind:hex`` form. Only this module and the delta
decoder (which checks canonicity with one regular expression) create them."""


class SignalKind(enum.Enum):
    """A hash algorithm a list may carry, with its digest size in bytes."""

    PDQ = ("pdq", 32)  # Meta PDQ, 256 bits
    PHASH = ("phash", 8)  # imagehash pHash, 64 bits
    MD5 = ("md5", 16)  # exact; what the programmes use for video
    SHA256 = ("sha256", 32)  # exact
    VPDQ = ("vpdq", 32)  # a video's frame set, by SHA-256 (hashlist.vpdq)

    def __init__(self, label: str, nbytes: int) -> None:
        self.label = label
        self.nbytes = nbytes

    @property
    def hex_digits(self) -> int:
        return 2 * self.nbytes

    @classmethod
    def from_label(cls, label: str) -> SignalKind:
        for kind in cls:
            if kind.label == label:
                return kind
        known = ", ".join(k.label for k in cls)
        raise InvalidSignalError(f"unknown signal kind {label!r}: expected one of {known}")


_HEX = re.compile(r"[0-9a-f]*")

# One alternative per kind, each with its exact length: used by the delta
# decoder to validate a whole body in one C-level pass.
CANONICAL_SIGNAL_PATTERN = (
    "(?:" + "|".join(f"{k.label}:[0-9a-f]{{{k.hex_digits}}}" for k in SignalKind) + ")"
)


@dataclass(frozen=True, slots=True)
class Signal:
    """A parsed signal: its kind and raw digest bytes."""

    kind: SignalKind
    digest: bytes

    def __post_init__(self) -> None:
        if len(self.digest) != self.kind.nbytes:
            raise InvalidSignalError(
                f"a {self.kind.label} hash is {self.kind.nbytes} bytes, got {len(self.digest)}"
            )

    @property
    def text(self) -> SignalText:
        return SignalText(f"{self.kind.label}:{self.digest.hex()}")

    def __str__(self) -> str:
        return self.text


def parse_signal(text: str) -> Signal:
    """Parse ``kind:hex`` as a person might write it; see the module docstring."""
    value = text.strip()
    shown = _shorten(value)
    if ":" not in value:
        raise InvalidSignalError(f"{shown}: a signal is written kind:hex, e.g. md5:<32 hex digits>")
    label, _, digits = value.partition(":")
    kind = SignalKind.from_label(label.lower())
    digits = digits.lower()
    if not _HEX.fullmatch(digits):
        raise InvalidSignalError(f"{shown}: the {kind.label} value is not hexadecimal")
    if len(digits) != kind.hex_digits:
        raise InvalidSignalError(
            f"{shown}: a {kind.label} hash is {kind.hex_digits} hex digits "
            f"({kind.nbytes * 8} bits), got {len(digits)}"
        )
    return Signal(kind, bytes.fromhex(digits))


PDQ_MIN_QUALITY = 50
"""Below this PDQ quality an image is too featureless to near-match (Meta's guidance)."""

DEFAULT_MAX_PIXELS = 50_000_000
"""Images with more pixels (after a reduced JPEG decode) are refused by hashing: a
37 KB PNG can claim 13,000 x 13,000 and cost gigabytes; Pillow's own bomb limit is
178 million."""

TRIVIAL: frozenset[str] = frozenset({
    "md5:d41d8cd98f00b204e9800998ecf8427e",  # the empty file
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # the empty file
    "pdq:" + "0" * 64,  # PDQ of no information at all
    "phash:" + "0" * 16,  # pHash of a flat image ...
    "phash:8" + "0" * 15,  # ... as imagehash computes it (the DC bit alone)
})  # fmt: skip
"""Hashes of trivially common content: listed, they would match every empty or blank
upload, so a hub refuses to add them (removing one stays possible)."""


def canonical(text: str) -> SignalText:
    """The canonical form of ``text``, or ``InvalidSignalError``."""
    return parse_signal(text).text


def _shorten(value: str, limit: int = 80) -> str:
    # Error messages quote the value, but never a whole megabyte of it.
    return repr(value if len(value) <= limit else value[:limit] + "...")
