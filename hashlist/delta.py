"""Canonical delta encoding: the bytes of one log leaf.

A delta is UTF-8 (in fact ASCII) text, every line ending in ``\\n``::

    hashlist-delta/v2             (hashlist-delta/v1 in a leaf written before v2)
    list <list id>
    version <decimal, no leading zeros, >= 1>
    state <64 lowercase hex: the state digest after applying this delta>
    add <canonical signal>        (zero or more, strictly ascending)
    remove <canonical signal>     (zero or more, strictly ascending)
    frames <frame set text>       (one per added vpdq signal, in the same order)

Invariants enforced by ``decode_delta`` (see docs/log-format.md):

* Exactly one byte string encodes a given delta: anything else (upper-case
  hex, a leading zero, a trailing space, unsorted or repeated lines, a missing
  final newline) is a ``MalformedDeltaError``. Verifiers hash the bytes as
  received and never re-serialise.
* A delta changes something: at least one ``add`` or ``remove`` line.
* No signal is both added and removed.
* The i-th ``frames`` line is the canonical frame set (``hashlist.vpdq``) whose
  digest is the i-th added ``vpdq`` signal: a listed video's frames are signed
  with it, and nothing else may ride along.
* The size limit is checked before anything is parsed: a v2 leaf is at most
  ``MAX_ENTRY_BYTES`` (65,535, what a C2SP tlog-tiles entry bundle can carry),
  a v1 leaf at most ``MAX_V1_ENTRY_BYTES`` (16 MiB), and a verifier may set
  a lower limit of its own. A larger leaf is an ``OversizedDeltaError``.
* The two versions share one grammar and decode to the same ``Delta``; only
  the first line and the size bound differ, and ``Delta.format_version`` keeps
  the first line so that ``encode`` gives back exactly the bytes decoded.
  ``make_delta`` builds version 2 only: the hub writes nothing else.

Whether an addition is absent and a removal present *before* the delta is a
property of the list, not of the bytes; ``verify.py`` checks it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice

from hashlist.errors import (
    InputError,
    InvalidSignalError,
    MalformedDeltaError,
    OversizedDeltaError,
)
from hashlist.signals import CANONICAL_SIGNAL_PATTERN, SignalKind, SignalText, canonical
from hashlist.tiles import MAX_ENTRY_BYTES
from hashlist.vpdq import MAX_FRAMES, FrameSet, parse_frame_text

FORMAT_VERSION = 2
FORMAT_LINE = f"hashlist-delta/v{FORMAT_VERSION}"
V1_FORMAT_LINE = "hashlist-delta/v1"

# The largest v2 leaf is MAX_ENTRY_BYTES (65,535): C2SP tlog-tiles entry bundles
# prefix each entry with a big-endian uint16 length, so no larger leaf could be
# served as tiles.
MAX_V1_ENTRY_BYTES = 16 * 1024 * 1024
"""Largest v1 leaf, the limit before version 2: kept so that history written
by earlier hubs still verifies."""
DEFAULT_MAX_DELTA_BYTES = MAX_V1_ENTRY_BYTES
"""A verifier's default limit on a leaf of either version: the larger bound.
A v2 leaf is held to ``MAX_ENTRY_BYTES`` whatever the limit is."""

LIST_ID_PATTERN = r"[a-z0-9][a-z0-9._-]{0,62}"
_MAX_LIST_ID = 63
_MAX_VERSION_DIGITS = 19  # 2^63 - 1 has 19 digits
MAX_HEADER_BYTES = (
    len(f"{FORMAT_LINE}\nlist \nversion \nstate \n") + _MAX_LIST_ID + _MAX_VERSION_DIGITS + 64
)
"""The four header lines at their longest: 186 bytes."""
MAX_CHANGE_LINE_BYTES = len("remove \n") + max(len(k.label) + 1 + k.hex_digits for k in SignalKind)
"""The longest ``add`` or ``remove`` line (``remove sha256:...``): 79 bytes."""
FRAMES_LINE_OVERHEAD = len("frames \n")
"""A ``frames`` line is this plus its frame set text (at most 58,499 bytes)."""

_LIST_ID = re.compile(LIST_ID_PATTERN)
_V2_PREFIX = f"{FORMAT_LINE}\n".encode()
_HEADER = re.compile(
    rb"hashlist-delta/v([12])\nlist (" + LIST_ID_PATTERN.encode() + rb")\n"
    rb"version ([1-9][0-9]{0,18})\nstate ([0-9a-f]{64})\n"
)
_SIG = CANONICAL_SIGNAL_PATTERN.encode()
_FRAMES = rb"[0-9a-f]{64}(?:,[0-9a-f]{64}){0,%d}" % (MAX_FRAMES - 1)
_BODY = re.compile(
    rb"(?:add " + _SIG + rb"\n)*(?:remove " + _SIG + rb"\n)*(?:frames " + _FRAMES + rb"\n)*"
)
_VIDEO = "vpdq:"
_MAX_VERSION = 2**63 - 1


def validate_list_id(list_id: str) -> str:
    """Return ``list_id`` unchanged if valid, else raise ``InputError`` saying why."""
    if not _LIST_ID.fullmatch(list_id):
        shown = (
            repr(list_id)
            if len(list_id) <= 80
            else f"{list_id[:60]!r}... ({len(list_id):,} characters)"
        )
        raise InputError(
            f"list id {shown} is not valid: use 1-63 characters of a-z, 0-9, '.', '_', '-', "
            "starting with a letter or digit"
        )
    return list_id


@dataclass(frozen=True, slots=True)
class Delta:
    """One verified-canonical change to a list. Build with ``make_delta``."""

    list_id: str
    version: int
    state_digest: bytes
    additions: tuple[SignalText, ...]
    removals: tuple[SignalText, ...]
    videos: tuple[FrameSet, ...] = ()
    """The frame sets of the added ``vpdq`` signals, in the order of their lines."""
    format_version: int = FORMAT_VERSION
    """1 or 2: the first line's version, so that a decoded leaf encodes to its bytes."""

    def encode(self) -> bytes:
        parts = [
            f"hashlist-delta/v{self.format_version}\nlist {self.list_id}\nversion {self.version}\n"
            f"state {self.state_digest.hex()}\n"
        ]
        parts.extend(f"add {s}\n" for s in self.additions)
        parts.extend(f"remove {s}\n" for s in self.removals)
        parts.extend(f"frames {v.text.decode()}\n" for v in self.videos)
        return "".join(parts).encode("ascii")

    @property
    def size(self) -> int:
        return len(self.additions) + len(self.removals)


def make_delta(
    list_id: str,
    version: int,
    state_digest: bytes,
    additions: Iterable[str],
    removals: Iterable[str],
    *,
    videos: Iterable[FrameSet] = (),
) -> Delta:
    """Build a canonical delta from signals as a person wrote them.

    Signals are canonicalised, sorted and de-duplicated. Every added ``vpdq``
    signal needs its frame set in ``videos`` (extra ones are ignored). Raises
    ``InputError`` (``InvalidSignalError`` for a bad hash) naming the problem.
    """
    validate_list_id(list_id)
    if not 1 <= version <= _MAX_VERSION:
        raise InputError(f"version must be between 1 and 2^63-1, got {version}")
    if len(state_digest) != 32:
        raise InputError(f"state digest must be 32 bytes, got {len(state_digest)}")
    adds = sorted({canonical(s) for s in additions})
    removes = sorted({canonical(s) for s in removals})
    if not adds and not removes:
        raise InputError("a delta must add or remove at least one hash")
    both = set(adds).intersection(removes)
    if both:
        raise InvalidSignalError(
            f"{len(both)} hash(es) are both added and removed, e.g. {min(both)}"
        )
    frames = {v.signal: v for v in videos}
    missing = [s for s in adds if s.startswith(_VIDEO) and s not in frames]
    if missing:
        raise InputError(
            f"{len(missing)} video(s) added without their frames, e.g. {missing[0]}: "
            "publish a video from the `hashlist hash` line that has its vpdq frames"
        )
    listed = tuple(frames[s] for s in adds if s.startswith(_VIDEO))
    return Delta(list_id, version, bytes(state_digest), tuple(adds), tuple(removes), listed)


def decode_delta(data: bytes, *, max_bytes: int = DEFAULT_MAX_DELTA_BYTES) -> Delta:
    """Decode canonical delta bytes of either version, or raise ``MalformedDeltaError``
    saying why (``OversizedDeltaError`` over ``max_bytes`` or the version's bound)."""
    _check_size(data, max_bytes)
    header = _HEADER.match(data)
    if header is None:
        raise MalformedDeltaError(_explain_header(data))
    version = int(header.group(3))
    if version > _MAX_VERSION:
        raise MalformedDeltaError(f"version {version} is larger than 2^63-1")
    body = data[header.end() :]
    if _BODY.fullmatch(body) is None:
        raise MalformedDeltaError(_explain_body(body))
    lines = body.decode("ascii").split("\n")
    lines.pop()  # the body ends in "\n" (or is empty), so the last piece is ""
    frames_at = _first(lines, ("add ", "remove "))
    split = _first(lines, ("add ",), frames_at)
    additions = [SignalText(line[4:]) for line in islice(lines, 0, split)]
    removals = [SignalText(line[7:]) for line in islice(lines, split, frames_at)]
    if not additions and not removals:
        raise MalformedDeltaError("delta adds and removes nothing")
    _check_strictly_ascending(additions, "add")
    _check_strictly_ascending(removals, "remove")
    if not set(additions).isdisjoint(removals):
        both = min(set(additions).intersection(removals))
        raise MalformedDeltaError(f"{both} is both added and removed")
    return Delta(
        list_id=header.group(2).decode("ascii"),
        version=version,
        state_digest=bytes.fromhex(header.group(4).decode("ascii")),
        additions=tuple(additions),
        removals=tuple(removals),
        videos=_videos(additions, lines[frames_at:]),
        format_version=int(header.group(1)),
    )


def _check_size(data: bytes, max_bytes: int) -> None:
    # Only the first line is looked at: the bound is known before any parsing.
    # Anything that is not v2 is held to the v1 bound, then refused by the
    # header check if it is not v1 either.
    v2 = data.startswith(_V2_PREFIX)
    bound = MAX_ENTRY_BYTES if v2 else MAX_V1_ENTRY_BYTES
    limit = min(max_bytes, bound)
    if len(data) > limit:
        why = " (a v2 leaf is at most 65,535 bytes)" if limit == MAX_ENTRY_BYTES and v2 else ""
        raise OversizedDeltaError(f"delta is {len(data)} bytes, over the {limit}-byte limit{why}")


def _videos(additions: Sequence[SignalText], lines: Sequence[str]) -> tuple[FrameSet, ...]:
    """The frame sets of the ``frames`` lines, each checked against its added video."""
    videos = [s for s in additions if s.startswith(_VIDEO)]
    if len(lines) != len(videos):
        raise MalformedDeltaError(
            f"{len(videos)} video(s) added but {len(lines)} 'frames' line(s): "
            "each added vpdq signal has exactly one"
        )
    out = []
    for signal, line in zip(videos, lines, strict=True):
        frames = parse_frame_text(line[7:].encode("ascii"))
        if frames is None:
            raise MalformedDeltaError(
                f"the frames of {signal} are not in ascending order without repeats"
            )
        if frames.signal != signal:
            raise MalformedDeltaError(f"the frames given for {signal} do not hash to it")
        out.append(frames)
    return tuple(out)


def _first(lines: Sequence[str], before: tuple[str, ...], hi: int | None = None) -> int:
    # Lines are validated and grouped (add, remove, frames): the first line in
    # [0, hi) that starts with none of ``before``, by binary search.
    lo, hi = 0, len(lines) if hi is None else hi
    while lo < hi:
        mid = (lo + hi) // 2
        if lines[mid].startswith(before):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _check_strictly_ascending(values: Sequence[str], verb: str) -> None:
    # map(operator.lt, ...) keeps the comparison loop in C: this is the hot
    # path of decoding a 100,000-hash delta.
    if all(map(operator.lt, values, islice(values, 1, None))):
        return
    for i in range(1, len(values)):
        if not values[i - 1] < values[i]:
            what = "repeated" if values[i - 1] == values[i] else "out of order"
            raise MalformedDeltaError(
                f"'{verb} {values[i]}' is {what}: lines must be strictly ascending"
            )


def _explain_header(data: bytes) -> str:
    expected = [
        (
            rb"hashlist-delta/v[12]",
            f"first line must be {FORMAT_LINE!r} (or {V1_FORMAT_LINE!r}, written before v2)",
        ),
        (rb"list " + LIST_ID_PATTERN.encode(), "second line must be 'list <list id>'"),
        (
            rb"version [1-9][0-9]{0,18}",
            "third line must be 'version <n>', n >= 1, no leading zeros",
        ),
        (rb"state [0-9a-f]{64}", "fourth line must be 'state <64 lowercase hex digits>'"),
    ]
    lines = data.split(b"\n", 4)
    for i, (pattern, message) in enumerate(expected):
        if i >= len(lines) - 1 or re.fullmatch(pattern, lines[i]) is None:
            shown = lines[i][:80] if i < len(lines) else b""
            return f"bad delta header: {message}, got {shown!r}"
    return "bad delta header"


_FRAMES_FORM = f"a frame set is 1 to {MAX_FRAMES} PDQ hashes in lowercase hex joined by ','"


def _explain_body(body: bytes) -> str:  # noqa: PLR0911 - one return per kind of fault
    # Slow path, run only on a body the regular expression refused: find the
    # first line at fault and say what is wrong with it.
    if not body.endswith(b"\n"):
        return "delta must end with a newline"
    line_re = re.compile(rb"(add|remove|frames) (.*)")
    order = {b"add": 0, b"remove": 1, b"frames": 2}
    stage = 0
    for number, raw in enumerate(body.split(b"\n")[:-1], start=5):
        match = line_re.fullmatch(raw)
        if match is None:
            return (f"line {number}: expected 'add <signal>', 'remove <signal>' or "
                    f"'frames <frame set>', got {raw[:80]!r}")  # fmt: skip
        verb, value = match.group(1), match.group(2).decode("ascii", "replace")
        if order[verb] < stage:
            return f"line {number}: lines come in the order add, remove, frames"
        stage = order[verb]
        if verb == b"frames":
            if re.fullmatch(_FRAMES, match.group(2)) is None:
                return f"line {number}: {_FRAMES_FORM}"
            continue
        try:
            if canonical(value) != value:
                return f"line {number}: {value[:80]!r} is not canonical (lowercase hex, no spaces)"
        except InvalidSignalError as e:
            return f"line {number}: {e}"
    return "delta body is not canonical"


__all__ = [
    "DEFAULT_MAX_DELTA_BYTES",
    "FORMAT_LINE",
    "FORMAT_VERSION",
    "FRAMES_LINE_OVERHEAD",
    "MAX_CHANGE_LINE_BYTES",
    "MAX_ENTRY_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_V1_ENTRY_BYTES",
    "V1_FORMAT_LINE",
    "Delta",
    "decode_delta",
    "make_delta",
    "validate_list_id",
]
