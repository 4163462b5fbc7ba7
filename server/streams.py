"""Who may hold how many of the hub's streams: no identity can take the hub's capacity.

Each open stream (``Subscribe``, ``GetLeaves``, ``GetSnapshot``) holds one of
the server's worker threads for its whole life. ``StreamSlots`` caps the
streams one identity may hold at once and the streams all identities may
hold together, the latter below the worker count so that unary calls (the
operator's ``Publish`` and ``Status``, partners' reads and reports) always
find a thread. A stream over either cap is refused at once with
``ResourceExhaustedError`` (``RESOURCE_EXHAUSTED``) and a message saying which.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from hashlist.errors import ResourceExhaustedError
from hashlist.identity import Identity


class StreamSlots:
    def __init__(self, *, per_identity: int, total: int) -> None:
        self.per_identity, self.total = per_identity, total
        self._lock = threading.Lock()
        self._held: Counter[str] = Counter()

    @contextmanager
    def hold(self, who: Identity) -> Iterator[None]:
        """One slot for ``who`` while the ``with`` block (the stream) lasts."""
        key = str(who)
        with self._lock:
            if self._held[key] >= self.per_identity:
                raise ResourceExhaustedError(
                    f"{who} already holds {self._held[key]} open streams, the most one "
                    "identity may: close one first"
                )
            if sum(self._held.values()) >= self.total:
                raise ResourceExhaustedError(
                    f"the hub serves {self.total} streams at once and all are in use: "
                    "try again later"
                )
            self._held[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._held[key] -= 1
                if not self._held[key]:
                    del self._held[key]

    def held(self) -> int:
        with self._lock:
            return sum(self._held.values())
