"""Per-key token buckets: how fast one partner may send reports and verdicts.

A bucket holds up to ``burst`` tokens and refills at ``rate`` per second; an
action of ``n`` items takes ``n`` tokens or is refused whole. The clock is
passed in (monotonic seconds), so the arithmetic is testable without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBuckets:
    def __init__(
        self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs rate > 0 and burst >= 1")
        self.rate, self.burst, self.clock = rate, burst, clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str, n: int) -> bool:
        """Take ``n`` tokens from ``key``'s bucket if it has them."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if n > tokens:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - n, now)
            return True
