"""A verified snapshot staged on disk, so the replica's write transaction never waits on the hub.

The sync loop downloads and verifies a snapshot into a ``Spill`` (a
temporary file beside the replica, so it lives on the same disk and a full
disk shows up here first), then replays it into the replica in one short
transaction. Memory stays bounded by one batch whatever the list's size.

Format: one record per batch the hub sent, written only from signals
``SnapshotVerifier.feed`` returned as canonical: an 8-byte header (the
number of rows, the length of the text), the signals as ASCII joined by
newlines, then the versions as unsigned 64-bit integers, then the frame sets
of the batch's videos (their canonical text joined by newlines). Reading back is a
split and an array per batch, not a parse per row. The file is removed when
the ``with`` block ends, whatever happens.
"""

from __future__ import annotations

import os
import struct
import sys
import tempfile
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from hashlist.errors import StorageError
from hashlist.signals import SignalText
from hashlist.vpdq import FrameSet, parse_frame_text

_HEADER = struct.Struct("<III")  # rows, text bytes, video text bytes
_SUFFIX = ".spill"


def remove_stale_spills(beside: Path) -> int:
    """Remove spill files of ``beside`` left by a node that was killed; returns how many.

    Call only while holding the node's lock (no other node is bootstrapping)."""
    stale = list(beside.parent.glob(f".{beside.name}.*{_SUFFIX}"))
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


class Spill:
    def __init__(self, beside: Path) -> None:
        try:
            fd, name = tempfile.mkstemp(
                prefix=f".{beside.name}.", suffix=_SUFFIX, dir=beside.parent
            )
        except OSError as e:
            raise StorageError(f"cannot stage a snapshot beside {beside}: {e.strerror}") from e
        self.path = Path(name)
        self._file: IO[bytes] = os.fdopen(fd, "w+b")
        self.rows = 0

    def __enter__(self) -> Spill:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)

    def write(
        self,
        signals: Sequence[SignalText],
        versions: Sequence[int],
        videos: Sequence[FrameSet] = (),
    ) -> None:
        text = "\n".join(signals).encode("ascii")
        frames = b"\n".join(v.text for v in videos)
        numbers = array("Q", versions)
        if sys.byteorder != "little":
            numbers.byteswap()
        try:
            self._file.write(_HEADER.pack(len(signals), len(text), len(frames)))
            self._file.write(text)
            self._file.write(numbers.tobytes())
            self._file.write(frames)
        except OSError as e:
            raise StorageError(f"cannot stage a snapshot in {self.path}: {e.strerror}") from e
        self.rows += len(signals)

    def batches(self) -> Iterator[tuple[list[SignalText], array[int], list[FrameSet]]]:
        """Every batch written, in order (call once, after the last ``write``)."""
        try:
            self._file.flush()
            self._file.seek(0)
            while head := self._file.read(_HEADER.size):
                rows, length, video_bytes = _HEADER.unpack(head)
                text = self._file.read(length).decode("ascii")
                numbers = array("Q")
                numbers.frombytes(self._file.read(8 * rows))
                if sys.byteorder != "little":
                    numbers.byteswap()
                signals = [SignalText(s) for s in text.split("\n")] if rows else []
                frames = self._file.read(video_bytes).split(b"\n") if video_bytes else []
                yield signals, numbers, [_frame_set(f) for f in frames]
        except OSError as e:
            raise StorageError(f"cannot read back {self.path}: {e.strerror}") from e


def _frame_set(text: bytes) -> FrameSet:
    frames = parse_frame_text(text)
    if frames is None:  # it was verified before it was written
        raise StorageError("a staged snapshot's frame set was damaged on disk")
    return frames
