"""The clock seam: verification takes the time as an argument; IO code asks a Clock."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> int:
        """Seconds since the POSIX epoch."""
        ...


class SystemClock:
    def now(self) -> int:
        return int(time.time())


class FixedClock:
    """A clock that says what it is told; for tests and simulators."""

    def __init__(self, now: int) -> None:
        self.value = now

    def now(self) -> int:
        return self.value
