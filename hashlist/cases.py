"""Case numbers and PINs for the victim's front door: made, hashed and checked, purely.

A person who submits their hashes gets a **case number** (which case) and a
**PIN** (that it is theirs), shown once. Everything here is pure: bytes and
integers in, values or typed errors out; randomness comes from the OS CSPRNG
(``secrets``) and the time is passed in.

- A case number is 60 random bits in Crockford's base32, three groups of
  four (``K7QM-2XHD-9RTB``): no I, L, O or U to misread, and read back
  case-insensitively with ``0/O`` and ``1/I/L`` folded, spaces and dashes
  ignored (``parse_case_number``).
- A PIN is ten random decimal digits (``12345-67890``): easy on a phone
  keypad; guessing is bounded by the lockout, not by the PIN's length.
- A PIN is stored only as a scrypt hash (``cryptography``'s ``Scrypt``) with
  its own random salt and its parameters (``scrypt$N$r$p$salt$hash``), so the
  cost can be raised later without invalidating stored PINs; checking is
  constant-time.
- Lockout: after ``MAX_FAILURES`` wrong PINs in a row a case is locked for
  ``LOCK_SECONDS``, doubling with each further lock up to ``MAX_LOCK_SECONDS``;
  a right PIN resets the count. ``PinAttempts`` is the state a store keeps.
"""

from __future__ import annotations

import enum
import re
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from hashlist.errors import InputError, ResourceExhaustedError, UnauthenticatedError

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_FOLD = str.maketrans({"O": "0", "I": "1", "L": "1"})
_NUMBER_CHARS = 12
_PIN_DIGITS = 10

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
"""scrypt's cost (about 50 ms and 32 MiB per check here): slow for a guesser
with a stolen database, quick enough for a person."""
_SCRYPT_MAX_N = 2**20  # a stored hash asking for more is refused, not computed

MAX_FAILURES = 5
LOCK_SECONDS = 15 * 60
MAX_LOCK_SECONDS = 24 * 3600


class WrongPinError(UnauthenticatedError):
    """The PIN does not open this case (or there is no such case: the same answer)."""


class CaseLockedError(ResourceExhaustedError):
    """Too many wrong PINs: the case refuses every PIN until ``until`` (Unix seconds)."""

    def __init__(self, until: int) -> None:
        super().__init__(f"too many wrong PINs: try again after {until} (Unix time)")
        self.until = until


def new_case_number() -> str:
    raw = "".join(secrets.choice(_CROCKFORD) for _ in range(_NUMBER_CHARS))
    return "-".join(raw[i : i + 4] for i in range(0, _NUMBER_CHARS, 4))


def parse_case_number(text: str) -> str:
    """The canonical form of a case number as a person typed it, or ``InputError``."""
    if len(text) > 40:
        raise InputError("a case number is 12 letters and digits, like K7QM-2XHD-9RTB")
    raw = re.sub(r"[\s-]", "", text).upper().translate(_FOLD)
    if len(raw) != _NUMBER_CHARS or any(c not in _CROCKFORD for c in raw):
        raise InputError("a case number is 12 letters and digits, like K7QM-2XHD-9RTB")
    return "-".join(raw[i : i + 4] for i in range(0, _NUMBER_CHARS, 4))


def new_pin() -> str:
    digits = "".join(secrets.choice("0123456789") for _ in range(_PIN_DIGITS))
    return f"{digits[:5]}-{digits[5:]}"


def parse_pin(text: str) -> str:
    """The PIN's ten digits as a person typed them (spaces and dashes ignored)."""
    if len(text) > 40:
        raise InputError("a PIN is 10 digits, like 12345-67890")
    digits = re.sub(r"[\s-]", "", text)
    if len(digits) != _PIN_DIGITS or not digits.isascii() or not digits.isdigit():
        raise InputError("a PIN is 10 digits, like 12345-67890")
    return digits


def hash_pin(pin: str, *, salt: bytes | None = None) -> bytes:
    """The stored form of ``pin``: ``scrypt$N$r$p$salt$hash`` (hex), as ASCII bytes."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    derived = _kdf(salt, SCRYPT_N, SCRYPT_R, SCRYPT_P).derive(parse_pin(pin).encode())
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${derived.hex()}".encode()


def pin_matches(pin: str, stored: bytes) -> bool:
    """Whether ``pin`` is the one ``stored`` was made from (constant-time)."""
    try:
        kind, n, r, p, salt, derived = stored.decode("ascii").split("$")
        params = int(n), int(r), int(p)
        salt_bytes, expected = bytes.fromhex(salt), bytes.fromhex(derived)
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError("a stored PIN hash is malformed") from e
    if kind != "scrypt" or not 2 <= params[0] <= _SCRYPT_MAX_N or len(expected) != 32:
        raise ValueError("a stored PIN hash has unsupported parameters")
    try:
        _kdf(salt_bytes, *params).verify(parse_pin(pin).encode(), expected)
    except InvalidKey:
        return False
    return True


def _kdf(salt: bytes, n: int, r: int, p: int) -> Scrypt:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p)


@dataclass(frozen=True)
class PinAttempts:
    """What a case remembers of wrong PINs: in a row, how many locks, locked until."""

    failures: int = 0
    locks: int = 0
    locked_until: int = 0

    def check_open(self, now: int) -> None:
        """``CaseLockedError`` while locked; otherwise nothing."""
        if now < self.locked_until:
            raise CaseLockedError(self.locked_until)

    def failed(self, now: int) -> PinAttempts:
        """The state after a wrong PIN at ``now`` (locks at the ``MAX_FAILURES``-th)."""
        failures = self.failures + 1
        if failures < MAX_FAILURES:
            return PinAttempts(failures, self.locks, self.locked_until)
        seconds = min(LOCK_SECONDS * 2**self.locks, MAX_LOCK_SECONDS)
        return PinAttempts(0, self.locks + 1, now + seconds)

    def succeeded(self) -> PinAttempts:
        return PinAttempts()


class CaseState(enum.Enum):
    """Where a case is. ``received`` and ``approved`` wait to be listed; ``listed``
    cases are on their list (from ``CaseView.version``); ``rejected`` and
    ``withdrawn`` are closed and hold none of their hashes."""

    RECEIVED = "received"
    APPROVED = "approved"
    LISTED = "listed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATES


OPEN_STATES = frozenset({CaseState.RECEIVED, CaseState.APPROVED, CaseState.LISTED})


class PolicyMode(enum.Enum):
    """How a list takes cases: ``auto`` publishes them in batches, nobody looking
    (StopNCII's model); ``review`` waits for the operator's approval of each."""

    AUTO = "auto"
    REVIEW = "review"


DEFAULT_BATCH_SECONDS = 60
DEFAULT_MAX_SIGNALS = 100


@dataclass(frozen=True)
class CasePolicy:
    """A list's policy for cases: the mode, how often auto batches are published,
    and how many hashes one case may carry."""

    list_id: str
    mode: PolicyMode
    batch_seconds: int = DEFAULT_BATCH_SECONDS
    max_signals: int = DEFAULT_MAX_SIGNALS

    def __post_init__(self) -> None:
        if not 1 <= self.batch_seconds <= 86_400:
            raise InputError("batch_seconds must be 1 to 86,400 (a day)")
        if not 1 <= self.max_signals <= MAX_CASE_SIGNALS:
            raise InputError(f"max_signals must be 1 to {MAX_CASE_SIGNALS:,}")


MAX_CASE_SIGNALS = 10_000
"""The most hashes a list's policy may let one case carry."""


@dataclass(frozen=True)
class CaseView:
    """What is told about a case: to the person (with their PIN) and to the operator.
    ``version`` is the list version that listed it (0 until then); ``withdrawn_version``
    the one that retracted its hashes (0 if none were retracted)."""

    number: str
    list_id: str
    state: CaseState
    signals: int
    opened_at: int
    version: int = 0
    withdrawn_version: int = 0
