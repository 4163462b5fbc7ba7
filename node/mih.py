"""Exact radius search in Hamming space by multi-index hashing (MIH).

Norouzi, Punjani and Fleet, "Fast Exact Search in Hamming Space with
Multi-Index Hashing" (2014), with the generalized pigeonhole principle of Qin
et al. (ICDE 2018). A ``bits``-bit code is cut into disjoint substrings, part
``i`` of ``widths[i]`` bits probed within ``radii[i]`` bits (-1: not indexed).
If ``sum(radii[i] + 1) >= r + 1`` then any code within ``r`` of the query is
within ``radii[i]`` of it on some part ``i`` (otherwise the distance would be
at least ``sum(radii[i] + 1)``). So probing every part's keys within its
radius finds every code within ``r``; each candidate is then checked on all
bits, so nothing outside ``r`` is returned. ``plan`` picks the parts (how many,
their widths and radii) with the least expected memory traffic per query for
evenly spread codes; each ``Segment`` then re-divides the radii among its tables
from its own data (a table whose keys bunch up is probed within less, others
within more), and likewise for any query radius below the plan's.

A ``Segment`` is immutable once built (``alive`` flags aside). Per indexed
part, a table: entries counting-sorted by the top ``dir_bits`` of their key,
with a directory of bucket offsets. Each entry is one uint32: the key's
remaining low bits above the code's id, so a bucket is one short contiguous
read that is filtered, 16 entries per vector instruction, on the Hamming
distance of those low bits (the bits left of the part's radius after the
directory slot's own distance). The codes' rows start on cache-line
boundaries, so verifying a candidate reads one line. Codes are rows of
uint64 words; bit ``i`` is bit ``i % 64`` of word ``i // 64`` (only
consistency matters, never the order). The kernels are compiled by numba with
the GIL released, so queries on several threads use several cores.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

from node.kernels import (
    LANES,
    build_table,
    scan_codes,
    scan_codes_many,
    search_segment,
    search_segment_many,
)

_MAX_SUBSTRING_BITS = 32
_MAX_TABLES = 16  # 64 bytes of entries per code at most: 2x a PDQ code
_ALIGN = 64  # bytes: a cache line
# Expected cost of a query, in units of one verified candidate (one random cache
# line of codes), measured at ten million codes: a bucket is a directory read
# (mostly cached) plus one or two lines of entries; each entry scanned is a
# sixteenth of a vector instruction; each table has a fixed set-up.
_BUCKET, _ENTRY, _TABLE = 1.5, 0.02, 4.0


@dataclass(frozen=True)
class Plan:
    """Substring layout for ``bits``-bit codes, radius ``radius``, about ``n`` codes."""

    bits: int
    radius: int
    offsets: tuple[int, ...]
    widths: tuple[int, ...]
    radii: tuple[int, ...]
    """Per substring: its probe radius; -1 means it is never probed."""
    dir_bits: tuple[int, ...]
    """Per substring: the key bits its directory resolves; the rest are filtered per entry."""

    @property
    def probes(self) -> int:
        """Directory slots (buckets) one query at the plan's radius reads."""
        return sum(_ball(d, r) for d, r in zip(self.dir_bits, self.radii, strict=True))


@cache
def _ball(width: int, radius: int) -> int:
    return sum(math.comb(width, k) for k in range(radius + 1)) if radius >= 0 else 0


def _id_bits(n: int) -> int:
    return max(1, (n - 1).bit_length())


def _dir_bits(width: int, n: int) -> int:
    # About eight entries per bucket, and the low key bits must fit beside the id.
    target = max(1, round(math.log2(max(n, 2))) - 3)
    return min(width, max(width - (32 - _id_bits(n)), target))


def _cost(width: int, dir_bits: int, radius: int, n: int, crowding: float = 1.0) -> float:
    """Expected cost of probing one table within ``radius``; ``crowding`` is how much
    fuller than under uniformly spread keys the buckets that queries land in are."""
    if radius < 0:
        return 0.0
    buckets = _ball(dir_bits, radius)
    entries = buckets * n / 2.0**dir_bits * crowding
    candidates = _ball(width, radius) * n / 2.0**width * crowding
    return _TABLE + buckets * _BUCKET + entries * _ENTRY + candidates


@cache
def _part_cost(width: int, radius: int, n: int) -> float:
    """``_cost`` of a part of a plan for about ``n`` codes (n is a size class: bounded)."""
    return _cost(width, _dir_bits(width, n), radius, n)


def _group(total: int, parts: int) -> list[int]:
    if not parts:
        return []
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


@lru_cache(maxsize=256)
def _shape(bits: int, radius: int, n: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Widths and radii of the cheapest plan among: ``m`` parts, ``a`` of them probed
    within ``s`` and the rest within ``s - 1`` (``m*s + a = radius + 1``), each group
    given its own share of the bits (so the wider parts can take the larger radius)."""
    best: tuple[float, list[int], list[int]] | None = None
    for m in range(1, min(bits, 64) + 1):
        s, a = divmod(radius + 1, m)
        if (m if s else a) > _MAX_TABLES:
            continue
        splits = range(a, bits - (m - a) + 1) if a else [0]
        for hi_bits in splits:
            widths = _group(hi_bits, a) + _group(bits - hi_bits, m - a)
            radii = [s] * a + [s - 1] * (m - a)
            if any(w > _MAX_SUBSTRING_BITS for w, r in zip(widths, radii, strict=True) if r >= 0):
                continue
            cost = sum(_part_cost(w, r, n) for w, r in zip(widths, radii, strict=True))
            if best is None or cost < best[0]:
                best = (cost, widths, radii)
    assert best is not None
    return tuple(best[1]), tuple(best[2])


def plan(bits: int, radius: int, n: int) -> Plan:
    """The layout with the least expected work per query for about ``n`` codes."""
    if not 0 <= radius < bits:
        raise ValueError(f"radius must be in [0, {bits}), got {radius}")
    n = max(n, 1)
    # Plans for sizes within a quarter power of two of each other are alike: search
    # once per size class; the directory sizes are then fitted to the exact size.
    widths, radii = _shape(bits, radius, round(2 ** (round(4 * math.log2(n)) / 4)))
    offsets = tuple(itertools.accumulate(widths, initial=0))[:-1]
    dirs = tuple(_dir_bits(w, n) if r >= 0 else 0 for w, r in zip(widths, radii, strict=True))
    return Plan(bits, radius, offsets, widths, radii, dirs)


def aligned_rows(n: int, words: int) -> np.ndarray:
    """An uninitialised (n, words) uint64 array whose first row starts on a cache line."""
    raw = np.empty(n * words * 8 + _ALIGN, np.uint8)
    start = -raw.ctypes.data % _ALIGN
    return raw[start : start + n * words * 8].view(np.uint64).reshape(n, words)


def _aligned(codes: np.ndarray) -> np.ndarray:
    if codes.dtype == np.uint64 and codes.flags.c_contiguous and codes.ctypes.data % _ALIGN == 0:
        return codes
    out = aligned_rows(*codes.shape)
    out[:] = codes
    return out


_PARALLEL_BUILD = 100_000  # codes: below this, threads cost more than they save


class Segment:
    """An immutable MIH over ``codes`` (n x words uint64), with per-entry alive flags."""

    def __init__(self, codes: np.ndarray, plan_: Plan) -> None:
        n = len(codes)
        if n >= 2**31:
            raise ValueError("a segment holds fewer than 2**31 codes")
        self.codes = _aligned(codes)
        self.plan = plan_
        self.alive = np.ones(n, dtype=np.bool_)
        self.id_bits = _id_bits(n)
        used = [i for i, r in enumerate(plan_.radii) if r >= 0]
        self.offsets = np.array([plan_.offsets[i] for i in used], dtype=np.int64)
        self.widths = np.array([plan_.widths[i] for i in used], dtype=np.int64)
        self.dir_bits = np.array([plan_.dir_bits[i] for i in used], dtype=np.int64)
        self.radii = np.array([plan_.radii[i] for i in used], dtype=np.int64)
        if any(w - d > 32 - self.id_bits for w, d in zip(self.widths, self.dir_bits, strict=True)):
            raise ValueError(f"plan's low key bits do not fit beside {self.id_bits}-bit ids")
        self.dir_base = np.zeros(len(used) + 1, dtype=np.int64)
        self.dir_base[1:] = np.cumsum((1 << self.dir_bits) + 1)
        self.directory = np.zeros(int(self.dir_base[-1]), dtype=np.uint32)
        self.entries = np.empty(len(used) * n + LANES, dtype=np.uint32)
        self.entries[len(used) * n :] = 0
        # Per table, every directory-slot mask within one more than its radius, lightest
        # first, so that any radius up to that probes a prefix of the list.
        lists = [_masks(int(d), int(r) + 1) for d, r in zip(self.dir_bits, self.radii, strict=True)]
        self.mask_base = np.array([0, *itertools.accumulate(map(len, lists))], dtype=np.int64)
        self.masks = np.array([m for masks in lists for m in masks], dtype=np.uint32)
        self._probes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.crowding = np.ones(len(used))
        if n:
            self._build(len(used))
            for t in range(len(used)):
                sizes = np.diff(self.directory[self.dir_base[t] : self.dir_base[t + 1]])
                # Size-biased mean bucket size (what a query near a listed code meets),
                # over its value for uniformly spread keys (Poisson: mean + 1).
                biased = float(np.square(sizes, dtype=np.float64).sum()) / n
                self.crowding[t] = max(1.0, biased / (n / len(sizes) + 1))

    def _build(self, tables: int) -> None:
        n = len(self.codes)

        def one(t: int) -> None:
            build_table(
                self.codes, int(self.offsets[t]), int(self.widths[t]), int(self.dir_bits[t]),
                self.id_bits, self.directory[self.dir_base[t] : self.dir_base[t + 1]],
                self.entries[t * n : (t + 1) * n],
            )  # fmt: skip

        if n < _PARALLEL_BUILD or tables < 2:
            for t in range(tables):
                one(t)
            return
        with ThreadPoolExecutor(min(tables, os.cpu_count() or 1)) as threads:
            list(threads.map(one, range(tables)))

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def nbytes(self) -> int:
        arrays = (self.codes, self.alive, self.directory, self.entries, self.masks)
        return sum(a.nbytes for a in arrays)

    def search(self, query: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids (ascending) and distances of alive codes within ``radius`` (<= the plan's)."""
        thresholds, counts = self._thresholds(radius)
        if not len(self.codes):
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return search_segment(
            self.codes, self.alive, self.offsets, self.widths, self.dir_bits, self.dir_base,
            self.directory, self.entries, self.id_bits, self.mask_base, self.masks,
            thresholds, counts, np.ascontiguousarray(query, dtype=np.uint64), radius,
        )  # fmt: skip

    def search_many(
        self, queries: np.ndarray, radius: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``search`` for each row of ``queries``, in one call: the hits of query ``q``
        are ``ids[bounds[q]:bounds[q + 1]]`` and ``dist[...]`` likewise."""
        thresholds, counts = self._thresholds(radius)
        if not len(self.codes):
            empty = np.empty(0, np.int64)
            return np.zeros(len(queries) + 1, np.int64), empty, empty
        return search_segment_many(
            self.codes, self.alive, self.offsets, self.widths, self.dir_bits, self.dir_base,
            self.directory, self.entries, self.id_bits, self.mask_base, self.masks,
            thresholds, counts, np.ascontiguousarray(queries, dtype=np.uint64), radius,
        )  # fmt: skip

    def _thresholds(self, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """Per table, the radius to probe for a query radius of ``radius``, and the
        number of directory slots that makes (kept per segment: a handful of radii; not
        in a shared cache, which would keep merged-away segments alive)."""
        probes = self._probes.get(radius)
        if probes is None:
            if not 0 <= radius <= self.plan.radius:
                raise ValueError(f"segment planned for radius {self.plan.radius}, asked {radius}")
            probe = self._allocate(radius)
            counts = [_ball(int(d), r) for d, r in zip(self.dir_bits, probe, strict=True)]
            probes = self._probes[radius] = (np.array(probe, np.int64), np.array(counts, np.int64))
        return probes

    def _allocate(self, radius: int) -> list[int]:
        """The generalized pigeonhole principle fitted to this segment's data: per table a
        radius from -1 (not probed) to one more than the plan's, with
        ``sum(radius_i + 1) >= radius + 1`` (so exact), of least expected cost given
        how crowded each table's buckets are. For evenly spread keys that is the plan's
        own split (or, for a smaller radius, a lowered one); a table whose keys bunch up
        (bits that vary little across the listed codes) is probed less and others more."""
        need, n = radius + 1, max(len(self.codes), 1)
        best: dict[int, tuple[float, list[int]]] = {0: (0.0, [])}
        for t in range(len(self.radii)):
            width, dir_bits, crowding = int(self.widths[t]), int(self.dir_bits[t]), self.crowding[t]
            options = [
                (r, _cost(width, dir_bits, r, n, crowding)) for r in range(-1, self.radii[t] + 2)
            ]
            step: dict[int, tuple[float, list[int]]] = {}
            for units, (cost, radii) in best.items():
                for r, extra in options:
                    at = min(units + r + 1, need)
                    if at not in step or cost + extra < step[at][0]:
                        step[at] = (cost + extra, [*radii, r])
            best = step
        return best[need][1]


@cache
def _masks(width: int, radius: int) -> tuple[int, ...]:
    return tuple(
        sum(1 << b for b in bits)
        for k in range(radius + 1)
        for bits in itertools.combinations(range(width), k)
    )


def scan(
    codes: np.ndarray, alive: np.ndarray, count: int, query: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """Brute force over the first ``count`` rows: the exact reference, and the buffer."""
    return scan_codes(codes, alive, count, np.ascontiguousarray(query, dtype=np.uint64), radius)


def scan_many(
    codes: np.ndarray, alive: np.ndarray, count: int, queries: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``scan`` for each row of ``queries``, laid out as ``Segment.search_many``'s."""
    queries = np.ascontiguousarray(queries, dtype=np.uint64)
    return scan_codes_many(codes, alive, count, queries, radius)


def codes_from_hex(hexes: list[str], words: int) -> np.ndarray:
    """Hex digests (``8 * words`` bytes each) as an (n, words) uint64 array."""
    raw = bytes.fromhex("".join(hexes))
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(len(hexes), words)


def hex_of(code: np.ndarray) -> str:
    return np.asarray(code, dtype=">u8").tobytes().hex()


def warm_up(shapes: list[tuple[int, int]], n: int = 1024) -> float:
    """Compile (or load from numba's cache) every kernel for codes of ``(bits, radius)``
    each, on random codes; returns the seconds it took. A node does this at start, so
    the first check after it is ready is as fast as the rest."""
    started = time.monotonic()
    rng = np.random.default_rng(0)
    for bits, radius in shapes:
        codes = rng.integers(0, 2**63, size=(n, bits // 64), dtype=np.uint64)
        segment = Segment(codes, plan(bits, radius, n))
        segment.search(codes[0], radius)
        segment.search_many(codes[:2], radius)
        scan(codes, segment.alive, n, codes[0], radius)
        scan_many(codes, segment.alive, n, codes[:2], radius)
    return time.monotonic() - started
