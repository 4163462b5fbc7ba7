"""Fan-out of new checkpoints to subscription streams.

Each list has a sequence number that rises with every new note (a
publication or a re-cosignature) and the newest note. A subscriber remembers
the sequence numbers it has sent and waits on one condition variable, so an
announcement wakes every stream at once and a slow stream never holds up the
publisher (it simply skips to the newest note).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable


class Broadcaster:
    def __init__(self, before: Callable[[str, bytes], object] | None = None) -> None:
        # Told each note before any subscriber: the static tiles (server.tiles) are
        # durable before a node is woken to fetch them.
        self._before = before
        self._cond = threading.Condition()
        self._seq: dict[str, int] = {}
        self._notes: dict[str, bytes] = {}
        self._closed = False
        self._subscribers: Counter[str] = Counter()

    def announce(self, list_id: str, note: bytes) -> None:
        if self._before is not None:
            self._before(list_id, note)
        with self._cond:
            self._seq[list_id] = self._seq.get(list_id, 0) + 1
            self._notes[list_id] = note
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every subscriber so streams can end (server shutdown)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def wait(self, sent: dict[str, int], timeout: float) -> list[tuple[str, bytes]]:
        """Notes newer than ``sent`` (updated in place), waiting up to ``timeout``."""

        def fresh() -> list[str]:
            return [lid for lid, seq in sent.items() if self._seq.get(lid, 0) > seq]

        with self._cond:
            self._cond.wait_for(lambda: self._closed or bool(fresh()), timeout)
            out = []
            for lid in fresh():
                sent[lid] = self._seq[lid]
                out.append((lid, self._notes[lid]))
            return out

    def subscribe(self, list_ids: Iterable[str]) -> dict[str, int]:
        """A cursor that makes the first ``wait`` return each list's current note;
        ``unsubscribe`` it when the stream ends."""
        cursor = dict.fromkeys(list_ids, 0)
        with self._cond:
            self._subscribers.update(cursor.keys())  # one per list, not the cursor's values
        return cursor

    def unsubscribe(self, cursor: dict[str, int]) -> None:
        with self._cond:
            self._subscribers -= Counter(cursor.keys())

    def subscribers(self) -> dict[str, int]:
        """Open subscription streams per list."""
        with self._cond:
            return dict(self._subscribers)
