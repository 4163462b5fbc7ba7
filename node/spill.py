"""A verified snapshot staged on disk, so the replica's write transaction never waits on the hub.

The sync loop downloads and verifies a snapshot into a ``Spill`` (a
temporary file beside the replica, so it lives on the same disk and a full
disk shows up here first), then replays it into the replica in one short
transaction. Memory stays bounded by one batch whatever the list's size.

Format: one ``signal<TAB>version`` line per row, written only from signals
``SnapshotVerifier.feed`` returned as canonical. The file is removed when the
``with`` block ends, whatever happens.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from hashlist.errors import StorageError
from hashlist.signals import SignalText


class Spill:
    def __init__(self, beside: Path) -> None:
        try:
            fd, name = tempfile.mkstemp(
                prefix=f".{beside.name}.", suffix=".spill", dir=beside.parent
            )
        except OSError as e:
            raise StorageError(f"cannot stage a snapshot beside {beside}: {e.strerror}") from e
        self.path = Path(name)
        self._file: IO[str] = os.fdopen(fd, "w+", encoding="ascii")
        self.rows = 0

    def __enter__(self) -> Spill:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)

    def write(self, signals: Sequence[SignalText], versions: Sequence[int]) -> None:
        try:
            self._file.writelines(f"{s}\t{v}\n" for s, v in zip(signals, versions, strict=True))
        except OSError as e:
            raise StorageError(f"cannot stage a snapshot in {self.path}: {e.strerror}") from e
        self.rows += len(signals)

    def rows_back(self) -> Iterator[tuple[SignalText, int]]:
        """Every row written, in order (call once, after the last ``write``)."""
        try:
            self._file.flush()
            self._file.seek(0)
        except OSError as e:
            raise StorageError(f"cannot read back {self.path}: {e.strerror}") from e
        for line in self._file:
            signal, _, version = line.rstrip("\n").partition("\t")
            yield SignalText(signal), int(version)
