"""Progress of long work, for a person watching: a bar on a terminal, lines otherwise.

``progress(total, what, unit)`` is a context manager whose ``advance(n)`` counts
work done. On a terminal it draws a ``tqdm`` bar with rate and time left; when
standard error is a file or a pipe (a log, CI) it prints one plain line at
most every ``every`` seconds and one at the end, so logs stay readable.
Nothing here is on the path of a result: output goes to standard error only.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Never, TextIO

from tqdm import tqdm


class Progress:
    """Counts work; shows it on ``out`` (None: shows nothing)."""

    def __init__(self, total: int, what: str, unit: str, out: TextIO | None, every: float) -> None:
        self.total, self.what, self.unit, self.out, self.every = total, what, unit, out, every
        self.done = 0
        self._started = self._said = time.monotonic()
        self._bar: tqdm[Never] | None = None
        if out is not None and out.isatty():
            self._bar = tqdm(total=total, desc=what, unit=f" {unit}", unit_scale=True,
                             file=out, dynamic_ncols=True)  # fmt: skip

    def advance(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.out is not None and time.monotonic() - self._said >= self.every:
            self._line(self.out)

    def _line(self, out: TextIO) -> None:
        elapsed = time.monotonic() - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        print(f"{self.what}: {self.done:,}/{self.total:,} {self.unit}{share}, "
              f"{rate:,.0f} {self.unit}/s", file=out, flush=True)  # fmt: skip
        self._said = time.monotonic()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.out is not None and self.done:
            self._line(self.out)


class Deferred:
    """A ``Progress`` whose total is learnt with the first count: ``__call__(total)``."""

    def __init__(self, what: str, unit: str, out: TextIO | None = None, every: float = 5.0):
        self.what, self.unit, self.out, self.every = what, unit, out or sys.stderr, every
        self.bar: Progress | None = None

    def __call__(self, total: int) -> None:
        if self.bar is None:
            self.bar = Progress(total, self.what, self.unit, self.out, self.every)
        self.bar.advance(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextmanager
def progress(
    total: int, what: str, unit: str, *, out: TextIO | None = None, every: float = 5.0,
    quiet: bool = False,
) -> Iterator[Progress]:  # fmt: skip
    """``quiet``: count, show nothing (small work needs no bar)."""
    bar = Progress(total, what, unit, None if quiet else out or sys.stderr, every)
    try:
        yield bar
    finally:
        bar.close()
