"""Who may hold how many of the hub's streams: no identity can take the hub's capacity.

Two kinds of stream, capped apart. A subscription (``Subscribe``) is a
coroutine on the server's event loop and holds no thread while it waits:
``subscriptions`` bounds them all together (memory, a wake-up of each per
announcement). A download (``GetLeaves``, ``GetSnapshot``) runs in the worker
threads, one at a time per message, and reads the database: ``downloads``
bounds them below the worker count so that unary calls (the operator's
``Publish`` and ``Status``, partners' reads and reports) always find a
thread. Both kinds count against one cap per identity, so one partner
opening many streams cannot take what the others need. A stream over a cap
is refused at once with ``ResourceExhaustedError`` (``RESOURCE_EXHAUSTED``)
and a message saying which.

Held from worker threads and from the event loop alike: the lock is only
ever held for a few dictionary operations.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from hashlist.errors import ResourceExhaustedError
from hashlist.identity import Identity

SUBSCRIPTION, DOWNLOAD = "subscription", "download"


class StreamSlots:
    def __init__(self, *, per_identity: int, downloads: int, subscriptions: int) -> None:
        self.per_identity = per_identity
        self.totals = {DOWNLOAD: downloads, SUBSCRIPTION: subscriptions}
        self._lock = threading.Lock()
        self._held: Counter[str] = Counter()  # per identity, every kind
        self._kinds: Counter[str] = Counter()  # per kind, every identity

    @contextmanager
    def hold(self, who: Identity, kind: str) -> Iterator[None]:
        """One slot of ``kind`` for ``who`` while the ``with`` block (the stream) lasts."""
        key = str(who)
        with self._lock:
            if self._held[key] >= self.per_identity:
                raise ResourceExhaustedError(
                    f"{who} already holds {self._held[key]} open streams, the most one "
                    "identity may: close one first"
                )
            if self._kinds[kind] >= self.totals[kind]:
                raise ResourceExhaustedError(
                    f"the hub serves {self.totals[kind]} {kind} streams at once and all are "
                    "in use: try again later"
                )
            self._held[key] += 1
            self._kinds[kind] += 1
        try:
            yield
        finally:
            with self._lock:
                self._held[key] -= 1
                self._kinds[kind] -= 1
                if not self._held[key]:
                    del self._held[key]
