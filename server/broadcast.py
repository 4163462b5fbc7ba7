"""Fan-out of new checkpoints to subscription streams.

Each list has a sequence number that rises with every new note (a
publication or a re-cosignature) and the newest note. A subscriber remembers
the sequence numbers it has sent and awaits the next change, so an
announcement wakes every stream at once and a slow stream never holds up the
publisher (it simply skips to the newest note).

Subscription streams are coroutines on the gRPC server's event loop, while
notes are announced from worker threads (a publication, the re-cosigning
chore, the witness submitter). A waiting stream parks a future of its loop;
``announce``, ``wake`` and ``close`` take every parked future and resolve them
from their thread with one ``call_soon_threadsafe`` per loop, whatever the
number of streams. An idle stream costs no timer and no thread; a stream
cancelled while it waits leaves a cancelled future, dropped at the next wake.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterable


class Broadcaster:
    def __init__(self, before: Callable[[str, bytes], object] | None = None) -> None:
        # Told each note before any subscriber: the static tiles (server.tiles) are
        # durable before a node is woken to fetch them.
        self._before = before
        self._lock = threading.Lock()
        self._seq: dict[str, int] = {}
        self._notes: dict[str, bytes] = {}
        self._closed = False
        self._subscribers: Counter[str] = Counter()
        # The futures waiting streams parked, per event loop; resolved and dropped on change.
        self._waiting: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}

    def announce(self, list_id: str, note: bytes) -> None:
        if self._before is not None:
            self._before(list_id, note)
        with self._lock:
            self._seq[list_id] = self._seq.get(list_id, 0) + 1
            self._notes[list_id] = note
        self.wake()

    def wake(self) -> None:
        """Wake every waiting stream, with or without a new note: each checks again that
        its caller may still read (a certificate was revoked, say)."""
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for loop, futures in waiting.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: its streams ended
                loop.call_soon_threadsafe(_resolve, futures)

    def close(self) -> None:
        """Wake every subscriber so streams can end (server shutdown)."""
        with self._lock:
            self._closed = True
        self.wake()

    @property
    def closed(self) -> bool:
        return self._closed

    async def changes(self, sent: dict[str, int]) -> list[tuple[str, bytes]]:
        """Notes newer than ``sent`` (updated in place), once there are any, or an empty
        list when woken without one (``wake``, ``close``)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            out = self._fresh(sent)
            if out or self._closed:
                return out
            future = loop.create_future()
            self._waiting.setdefault(loop, []).append(future)
        await future
        with self._lock:
            return self._fresh(sent)

    def _fresh(self, sent: dict[str, int]) -> list[tuple[str, bytes]]:
        out = []
        for lid, seq in sent.items():
            if (now := self._seq.get(lid, 0)) > seq:
                sent[lid] = now
                out.append((lid, self._notes[lid]))
        return out

    def subscribe(self, list_ids: Iterable[str]) -> dict[str, int]:
        """A cursor that makes the first ``changes`` return each list's current note;
        ``unsubscribe`` it when the stream ends."""
        cursor = dict.fromkeys(list_ids, 0)
        with self._lock:
            self._subscribers.update(cursor.keys())  # one per list, not the cursor's values
        return cursor

    def unsubscribe(self, cursor: dict[str, int]) -> None:
        with self._lock:
            self._subscribers -= Counter(cursor.keys())

    def subscribers(self) -> dict[str, int]:
        """Open subscription streams per list."""
        with self._lock:
            return dict(self._subscribers)


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():  # not cancelled
            future.set_result(None)
