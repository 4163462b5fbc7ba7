"""The node's in-memory near-match index for one perceptual signal kind.

Holds every listed code of that kind across the followed lists, each entry
tagged with its list. Searching returns exactly the alive entries within the
radius (``node.mih`` segments plus a brute-force buffer), so answers are exact
at every moment.

Updates are incremental: a retraction clears one entry's alive flag, an
addition goes to a small buffer; a full buffer becomes a new segment, and the
last two segments are merged (in a background thread unless ``background`` is
false) whenever the newer holds at least 1/``ratio`` of the older's entries,
so there are O(log n) segments and no delta ever rebuilds the whole index.
While a merge runs, the old segments keep answering and retractions are also
recorded for replay on the merged segment before it is swapped in.

Not thread-safe by itself: ``node.matcher`` holds a readers-writer lock
around searches (shared) and updates (exclusive). ``search_many`` spreads a
batch over a pool of threads (one per core; the kernels release the GIL)
while its caller holds the shared lock, so the batch sees one state.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np

from node.mih import Segment, aligned_rows, codes_from_hex, hex_of, plan, scan, scan_many

log = logging.getLogger(__name__)


@dataclass
class _Part:
    segment: Segment
    lists: np.ndarray  # uint16 list index per entry

    def retract(self, li: int, gone: np.ndarray | None) -> None:
        """Clear the entries of list ``li`` equal to a code in ``gone`` (None: all of them)."""
        if gone is None:
            self.segment.alive &= self.lists != li
            return
        for code in gone:
            ids, _ = self.segment.search(code, 0)
            for i in ids:
                if self.lists[i] == li:
                    self.segment.alive[i] = False


class NearIndex:
    def __init__(
        self,
        bits: int,
        radius: int,
        list_ids: Sequence[str],
        *,
        buffer_size: int = 4096,
        ratio: int = 8,
        background: bool = True,
    ) -> None:
        if len(list_ids) >= 2**16:
            raise ValueError("at most 65535 lists per node")
        self.bits, self.radius, self.words = bits, radius, bits // 64
        self.list_ids = tuple(list_ids)
        self._list_index = {name: i for i, name in enumerate(self.list_ids)}
        self._parts: list[_Part] = []
        self._buffer = np.zeros((buffer_size, self.words), np.uint64)
        self._buffer_lists = np.zeros(buffer_size, np.uint16)
        self._buffer_alive = np.zeros(buffer_size, np.bool_)
        self._buffered = 0
        self._ratio = ratio
        self._background = background
        self._merging: tuple[_Part, _Part] | None = None
        self._replay: list[tuple[int, np.ndarray | None]] = []  # retractions during a merge
        self._swap: Callable[[], AbstractContextManager[object]] | None = None
        self.merges = 0

    def __len__(self) -> int:
        alive = sum(int(p.segment.alive.sum()) for p in self._parts)
        return alive + int(self._buffer_alive[: self._buffered].sum())

    @property
    def nbytes(self) -> int:
        buffer = self._buffer.nbytes + self._buffer_lists.nbytes + self._buffer_alive.nbytes
        return buffer + sum(p.segment.nbytes + p.lists.nbytes for p in self._parts)

    @property
    def segments(self) -> int:
        return len(self._parts)

    def bind(self, exclusive: Callable[[], AbstractContextManager[object]]) -> None:
        """How a background merge takes the exclusive lock to swap its result in."""
        self._swap = exclusive

    # --- loading and updates (caller holds the exclusive lock) ---

    def load(self, list_id: str, hexes: Iterable[Sequence[str]]) -> None:
        """Add a whole list from the replica as one segment (start-up, snapshot)."""
        chunks = [codes_from_hex(list(c), self.words) for c in hexes if len(c)]
        if chunks:
            self.load_codes(list_id, _stacked(chunks, self.words))

    def load_codes(self, list_id: str, codes: np.ndarray) -> None:
        """``load`` for codes already decoded: an (n, words) uint64 array."""
        if codes.ndim != 2 or codes.shape[1] != self.words:
            raise ValueError(f"codes must be an (n, {self.words}) array")
        if len(codes):
            self._add_part(codes, np.full(len(codes), self._list_index[list_id], np.uint16))

    def drop_list(self, list_id: str) -> None:
        self._retract(self._list_index[list_id], None)

    def apply(self, list_id: str, added: Sequence[str], removed: Sequence[str]) -> None:
        """One delta's changes for this kind: hex codes added to and retracted from a list."""
        li = self._list_index[list_id]
        if removed:
            self._retract(li, codes_from_hex(list(removed), self.words))
        if added:
            self._append(codes_from_hex(list(added), self.words), li)

    def _retract(self, li: int, gone: np.ndarray | None) -> None:
        for p in self._parts:
            p.retract(li, gone)
        n = self._buffered
        if gone is None:
            self._buffer_alive[:n] &= self._buffer_lists[:n] != li
        else:
            for code in gone:
                ids, _ = scan(self._buffer, self._buffer_alive, n, code, 0)
                self._buffer_alive[ids[self._buffer_lists[ids] == li]] = False
        if self._merging is not None:
            self._replay.append((li, gone))

    def _append(self, codes: np.ndarray, li: int) -> None:
        for start in range(0, len(codes), len(self._buffer)):
            chunk = codes[start : start + len(self._buffer)]
            if self._buffered + len(chunk) > len(self._buffer):
                self._flush()
            n, k = self._buffered, len(chunk)
            self._buffer[n : n + k] = chunk
            self._buffer_lists[n : n + k] = li
            self._buffer_alive[n : n + k] = True
            self._buffered += k

    def _flush(self) -> None:
        n = self._buffered
        keep = self._buffer_alive[:n]
        self._add_part(self._buffer[:n][keep].copy(), self._buffer_lists[:n][keep].copy())
        self._buffer_alive[:] = False
        self._buffered = 0

    def _add_part(self, codes: np.ndarray, tags: np.ndarray) -> None:
        if len(codes):
            segment = Segment(codes, plan(self.bits, self.radius, len(codes)))
            self._parts.append(_Part(segment, tags))
        self._maybe_merge()

    # --- merging ---

    def _maybe_merge(self) -> None:
        while self._merging is None and len(self._parts) >= 2:
            older, newer = self._parts[-2], self._parts[-1]
            if len(newer.segment) * self._ratio < len(older.segment):
                return
            self._merging = (older, newer)
            self._replay = []
            if self._background and self._swap is not None:
                threading.Thread(target=self._merge_in_background, name="index-merge").start()
                return
            self._install(self._merged(older, newer))

    def _merged(self, older: _Part, newer: _Part) -> _Part:
        keep_old, keep_new = older.segment.alive.copy(), newer.segment.alive.copy()
        codes = _stacked([older.segment.codes[keep_old], newer.segment.codes[keep_new]], self.words)
        tags = np.concatenate([older.lists[keep_old], newer.lists[keep_new]])
        return _Part(Segment(codes, plan(self.bits, self.radius, len(codes))), tags)

    def _merge_in_background(self) -> None:
        assert self._merging is not None
        assert self._swap is not None
        try:
            merged = self._merged(*self._merging)
        except Exception:
            log.exception("index merge failed; keeping the unmerged segments")
            with self._swap():
                self._merging = None
            return
        with self._swap():
            self._install(merged)

    def _install(self, merged: _Part) -> None:
        assert self._merging is not None
        older, newer = self._merging
        for li, gone in self._replay:
            merged.retract(li, gone)
        at = self._parts.index(older)
        self._parts[at : at + 2] = [merged]
        assert newer not in self._parts
        self._merging, self._replay = None, []
        self.merges += 1
        self._maybe_merge()

    # --- searching (caller holds the shared lock) ---

    def _radius(self, radius: int | None) -> int:
        r = self.radius if radius is None else radius
        if not 0 <= r <= self.radius:
            raise ValueError(f"radius must be in [0, {self.radius}]")
        return r

    def search(self, hexcode: str, radius: int | None = None) -> list[tuple[str, str, int]]:
        """(list id, listed code hex, distance) of every alive entry within ``radius``."""
        r = self._radius(radius)
        query = codes_from_hex([hexcode], self.words)[0]
        out = []
        for p in self._parts:
            ids, dist = p.segment.search(query, r)
            out += [
                (int(p.lists[i]), p.segment.codes[i], int(d))
                for i, d in zip(ids, dist, strict=True)
            ]
        ids, dist = scan(self._buffer, self._buffer_alive, self._buffered, query, r)
        out += [
            (int(self._buffer_lists[i]), self._buffer[i], int(d))
            for i, d in zip(ids, dist, strict=True)
        ]
        return [(self.list_ids[li], hex_of(code), d) for li, code, d in out]

    def search_many(
        self, hexcodes: Sequence[str], radius: int | None = None
    ) -> list[list[tuple[str, str, int]]]:
        """``search`` for each code, in order (a batch: one call, one lock hold), its
        chunks searched on all cores at once."""
        r = self._radius(radius)
        queries = codes_from_hex(list(hexcodes), self.words)
        out: list[list[tuple[str, str, int]]] = [[] for _ in range(len(queries))]
        if not len(queries):
            return out
        step = max(_MIN_CHUNK, -(-len(queries) // (4 * _WORKERS)))
        chunks = [(at, queries[at : at + step]) for at in range(0, len(queries), step)]
        if len(chunks) == 1:
            found = [self._search_chunk(0, queries, r)]
        else:
            found = list(_pool().map(lambda c: self._search_chunk(c[0], c[1], r), chunks))
        for hits in found:
            for q, li, code, d in hits:
                out[q].append((self.list_ids[li], code, d))
        return out

    def _search_chunk(
        self, first: int, queries: np.ndarray, radius: int
    ) -> list[tuple[int, int, str, int]]:
        """(query index, list index, code hex, distance) of every hit of a chunk of
        queries (``first`` is the index of its first query), in query order."""
        found = [
            (p.segment.search_many(queries, radius), p.segment.codes, p.lists) for p in self._parts
        ]
        buffered = scan_many(self._buffer, self._buffer_alive, self._buffered, queries, radius)
        found.append((buffered, self._buffer, self._buffer_lists))
        rows: list[tuple[int, int, str, int]] = []
        for (bounds, ids, dist), codes, lists in found:
            if len(ids):
                hexes = _hexes(codes[ids])
                which = np.repeat(np.arange(first, first + len(queries)), np.diff(bounds))
                rows += zip(which.tolist(), lists[ids].tolist(), hexes, dist.tolist(), strict=True)
        rows.sort(key=lambda row: row[0])  # stable: each query's hits stay in part order
        return rows


_MIN_CHUNK = 32  # queries: smaller chunks cost more in hand-offs than they gain
_WORKERS = os.cpu_count() or 1
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The threads ``search_many`` spreads its chunks over: one per core, for the process."""
    global _POOL  # noqa: PLW0603 - one pool per process, made on first use
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(_WORKERS, thread_name_prefix="near-search")
        return _POOL


def _stacked(chunks: Sequence[np.ndarray], words: int) -> np.ndarray:
    """The rows of ``chunks`` in one cache-line-aligned array (what ``Segment`` keeps)."""
    out = aligned_rows(sum(len(c) for c in chunks), words)
    at = 0
    for c in chunks:
        out[at : at + len(c)] = c
        at += len(c)
    return out


def _hexes(codes: np.ndarray) -> list[str]:
    """``hex_of`` of each row, in one conversion."""
    width = codes.shape[1] * 16
    text = np.ascontiguousarray(codes, dtype=">u8").tobytes().hex()
    return [text[i : i + width] for i in range(0, len(text), width)]
