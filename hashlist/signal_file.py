"""Reading a file of signals for publication: all of it checked before anything is sent.

One signal (``kind:hex``) per line; blank lines and ``#`` comments are
skipped; a line that is a JSON object (what ``hashlist hash`` prints)
contributes its ``signals`` array, and a video's line (one with ``vpdq``
frames) its frame set too, which must hash to its ``vpdq:`` signal. Every
line is checked, and a file with any bad line is refused whole with an
``InputError`` that names the first ``SHOWN_ERRORS`` bad lines by number and
counts the rest, so a publication is never cut short by line 150,001. A
binary or non-UTF-8 file is refused with the line where that shows. Lines are
read one at a time: memory holds the signals, never the whole file twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from hashlist.errors import InputError, InvalidSignalError
from hashlist.signals import PDQ_MIN_QUALITY, SignalText, canonical
from hashlist.vpdq import FrameSet, VpdqFrame

SHOWN_ERRORS = 20
MAX_LINE_BYTES = 32 << 20  # a video hashed at every frame for hours


def read_signals(path: Path, stdin: IO[bytes] | None = None) -> list[SignalText]:
    """The canonical signals of ``path`` ('-': ``stdin``), or ``InputError`` naming bad lines."""
    return read_publication(path, stdin)[0]


def read_publication(
    path: Path, stdin: IO[bytes] | None = None
) -> tuple[list[SignalText], list[FrameSet]]:
    """``read_signals``, with the frame sets of the videos among them."""
    name = "standard input" if str(path) == "-" else str(path)
    if stdin is not None and str(path) == "-":
        return parse_lines(stdin, name)
    try:
        with path.open("rb") as f:
            return parse_lines(f, name)
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from e


def parse_lines(lines: Iterable[bytes], name: str) -> tuple[list[SignalText], list[FrameSet]]:
    signals: list[SignalText] = []
    videos: list[FrameSet] = []
    problems: list[str] = []
    bad = 0
    for number, raw in enumerate(lines, 1):
        try:
            signals.extend(_signals_of(raw, videos))
        except InputError as e:
            bad += 1
            if len(problems) < SHOWN_ERRORS:
                problems.append(f"  line {number}: {e}")
    if bad:
        more = f"\n  ... and {bad - len(problems)} more bad line(s)" if bad > len(problems) else ""
        raise InputError(f"{name}: {bad} bad line(s), nothing was published:\n"
                         + "\n".join(problems) + more)  # fmt: skip
    return signals, videos


def _signals_of(raw: bytes, videos: list[FrameSet]) -> Iterator[SignalText]:
    if len(raw) > MAX_LINE_BYTES:
        raise InputError(f"a line of {len(raw):,} bytes: this is not a file of hashes")
    if b"\0" in raw:
        raise InputError("binary data: give a text file of kind:hex lines")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text (byte {e.start + 1} of the line)") from e
    if text.lstrip().startswith("{"):
        yield from _json_signals(text, videos)
        return
    line = text.split("#", 1)[0].strip()
    if line:
        yield _canonical(line)


def _canonical(text: str) -> SignalText:
    try:
        return canonical(text)
    except InvalidSignalError as e:
        raise InputError(str(e)) from e


def _json_signals(text: str, videos: list[FrameSet]) -> list[SignalText]:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON: {e.msg}") from e
    signals = record.get("signals") if isinstance(record, dict) else None
    if not isinstance(signals, list) or not all(isinstance(s, str) for s in signals):
        raise InputError('a JSON line needs a "signals" array of kind:hex strings')
    quality = record.get("pdq_quality")
    if isinstance(quality, int) and quality < PDQ_MIN_QUALITY:
        raise InputError(
            f"pdq quality {quality} is below {PDQ_MIN_QUALITY}: the image is too featureless "
            "to list (it would near-match unrelated uploads); hash another copy of it"
        )
    out = [_canonical(s) for s in signals]
    frames = record.get("vpdq")
    if not any(s.startswith("vpdq:") for s in out):
        return out  # an image, or a video too featureless to list as one
    if frames is None:
        raise InputError('a vpdq signal needs the line\'s "vpdq" frames: hash the video again')
    if not isinstance(frames, list) or len(frames) > _MAX_FRAMES_PER_LINE:
        raise InputError(f'"vpdq" is a list of at most {_MAX_FRAMES_PER_LINE:,} frames')
    video = FrameSet.of([VpdqFrame.from_json(f) for f in frames])
    if video.signal not in out:
        raise InputError(f"the line's signals do not name its vpdq frames ({video.signal})")
    videos.append(video)
    return out


_MAX_FRAMES_PER_LINE = 400_000
