"""Per-key token buckets: how fast one partner may send reports and verdicts.

A bucket holds up to ``burst`` tokens and refills at ``rate`` per second; an
action of ``n`` items takes ``n`` tokens or is refused whole. The clock is
passed in (monotonic seconds), so the arithmetic is testable without sleeping.
At most ``max_keys`` buckets are kept: past that, the full ones (no different
from new) are forgotten, then the least recently used.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBuckets:
    def __init__(
        self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic,
        max_keys: int = 1_000_000,
    ) -> None:  # fmt: skip
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs rate > 0 and burst >= 1")
        self.rate, self.burst, self.clock, self.max_keys = rate, burst, clock, max_keys
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str, n: int) -> bool:
        """Take ``n`` tokens from ``key``'s bucket if it has them."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (float(self.burst), now))  # to the end: LRU
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            taken = n <= tokens
            self._buckets[key] = (tokens - n if taken else tokens, now)
            if len(self._buckets) > self.max_keys:
                self._forget(now)
            return taken

    def _forget(self, now: float) -> None:
        full = [
            k for k, (t, at) in self._buckets.items() if t + (now - at) * self.rate >= self.burst
        ]
        for k in full:
            del self._buckets[k]
        while len(self._buckets) > self.max_keys:  # none full: the least recently used
            del self._buckets[next(iter(self._buckets))]
