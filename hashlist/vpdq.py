"""vPDQ frame sets: what a listed video is, to the byte, and how two videos compare.

A video's vPDQ (Meta's video PDQ) is one PDQ hash per sampled frame, each with
its frame number, quality and timestamp (``VpdqFrame``; ``hashlist.video``
computes them). Two videos are compared as unordered bags of frames: frames
match when their PDQ hashes are within ``FRAME_DISTANCE`` bits and both have
quality at least ``FRAME_QUALITY``; the answer is the share of the query's
distinct frames that match some target frame, and the share of the target's
that some query frame matches (``hashlist.vpdq_match``, Meta's brute-force
reference, which the node's index must agree with).

Only the target's distinct good frames ever count, so that is what a list
holds: a video's **frame set** (``FrameSet``), the distinct PDQ hashes of its
frames of quality >= ``FRAME_QUALITY``, at most ``MAX_FRAMES`` of them, in
ascending order. Its canonical text is those hashes in lowercase hex joined by
``,`` and its signal is ``vpdq:`` + hex SHA-256(``DOMAIN`` || text): the log's
set and state digest name a video by that 32-byte digest, and a delta that
adds one carries its text beside it (``docs/log-format.md`` section 2.1).

Invariants:
- ``FrameSet`` is canonical by construction: sorted, distinct, 1..MAX_FRAMES
  codes of 64 lowercase hex digits; ``parse_frame_text`` accepts only that.
- A video with more good frames than ``MAX_FRAMES`` keeps an evenly spaced
  ``MAX_FRAMES`` of them in frame order (``FrameSet.of``), so the listed text,
  and so a leaf, stays bounded (about 58 KB).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from hashlist.errors import InputError
from hashlist.signals import SignalText

FRAME_QUALITY = 50
"""Frames below this PDQ quality are too featureless to compare (Meta's default)."""
FRAME_DISTANCE = 31
"""Frames within this many bits match (Meta's default)."""
TARGET_MATCH_PERCENT = 80.0
"""A listed video matches when at least this share of its frames is matched (Meta's)."""
QUERY_MATCH_PERCENT = 0.0
"""... and at least this share of the query's frames matches (Meta's: no requirement)."""
MAX_FRAMES = 900
"""Distinct good frames a listed video keeps: 15 minutes of distinct frames at one
per second; the text is 900 * 65 - 1 bytes, so a leaf adding one such video stays
within the 65,535 bytes of a v2 leaf (``hashlist.delta.MAX_ENTRY_BYTES``)."""
DOMAIN = b"hashlist-vpdq/v1\n"
_PDQ_HEX = 64
_TEXT = re.compile(rb"[0-9a-f]{64}(?:,[0-9a-f]{64}){0,%d}" % (MAX_FRAMES - 1))


@dataclass(frozen=True, slots=True)
class VpdqFrame:
    """One hashed frame: ``frame`` is its 0-based number in decoding order."""

    frame: int
    quality: int
    pdq: str
    timestamp: float

    def to_json(self) -> list[object]:
        """``[frame_number, quality, pdq_hex, timestamp_seconds]``, as ``hashlist hash``
        prints it (the timestamp to the millisecond, as Meta's tools do)."""
        return [self.frame, self.quality, self.pdq, round(self.timestamp, 3)]

    @classmethod
    def from_json(cls, value: object) -> VpdqFrame:
        """The inverse of ``to_json``, or ``InputError`` saying what is wrong."""
        if not isinstance(value, list) or len(value) != 4:
            raise InputError("a vpdq frame is [frame_number, quality, pdq_hex, timestamp]")
        frame, quality, pdq, timestamp = value
        if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
            raise InputError(f"a vpdq frame number is an integer >= 0, got {frame!r}")
        if not isinstance(quality, int) or isinstance(quality, bool) or not 0 <= quality <= 100:
            raise InputError(f"a vpdq frame quality is an integer 0..100, got {quality!r}")
        if not isinstance(pdq, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", pdq):
            raise InputError(f"a vpdq frame hash is 64 hex digits, got {str(pdq)[:80]!r}")
        if (not isinstance(timestamp, int | float) or isinstance(timestamp, bool)
                or not math.isfinite(timestamp) or timestamp < 0):  # fmt: skip
            raise InputError(f"a vpdq frame timestamp is seconds >= 0, got {timestamp!r}")
        return cls(frame, quality, pdq.lower(), float(timestamp))


@dataclass(frozen=True, slots=True)
class FrameSet:
    """A listed video: its distinct good frame hashes, ascending (see the module)."""

    codes: tuple[str, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.codes) <= MAX_FRAMES:
            raise InputError(f"a video lists 1 to {MAX_FRAMES} frames, got {len(self.codes)}")
        if list(self.codes) != sorted(set(self.codes)):
            raise InputError("a frame set's hashes are distinct and in ascending order")

    @classmethod
    def of(cls, frames: Sequence[VpdqFrame], *, quality: int = FRAME_QUALITY) -> FrameSet:
        """The frame set of a hashed video, or ``InputError`` if no frame is good enough."""
        distinct = distinct_good(frames, quality)
        if not distinct:
            raise InputError(
                f"no frame of this video has pdq quality {quality} or more: "
                "too featureless to list or near-match as a video"
            )
        return cls.sampled(distinct)

    @classmethod
    def sampled(cls, distinct: Sequence[str]) -> FrameSet:
        """The frame set of distinct frame hashes in frame order: all of them, or an
        evenly spaced ``MAX_FRAMES`` of them."""
        distinct = list(distinct)
        if len(distinct) > MAX_FRAMES:
            n = len(distinct)
            distinct = [distinct[i * n // MAX_FRAMES] for i in range(MAX_FRAMES)]
        return cls(tuple(sorted(distinct)))

    @property
    def text(self) -> bytes:
        return ",".join(self.codes).encode()

    @property
    def signal(self) -> SignalText:
        return video_signal(self.text)

    def __len__(self) -> int:
        return len(self.codes)


def distinct_good(frames: Sequence[VpdqFrame], quality: int = FRAME_QUALITY) -> list[str]:
    """The distinct hashes of the frames of at least ``quality``, in frame order: what
    Meta's comparison counts (it filters by quality, then de-duplicates)."""
    kept: dict[str, None] = {}
    for f in sorted(frames, key=lambda f: f.frame):
        if f.quality >= quality:
            kept.setdefault(f.pdq.lower())
    return list(kept)


def video_signal(text: bytes) -> SignalText:
    """The ``vpdq:`` signal naming a frame set's canonical text."""
    return SignalText("vpdq:" + hashlib.sha256(DOMAIN + text).hexdigest())


def parse_frame_text(text: bytes) -> FrameSet | None:
    """The frame set whose canonical text is exactly ``text``, or None if it is not one."""
    if not _TEXT.fullmatch(text):
        return None
    codes = text.decode().split(",")
    if any(a >= b for a, b in itertools.pairwise(codes)):
        return None
    return FrameSet(tuple(codes))
