"""Exact radius search in Hamming space by multi-index hashing (MIH).

Norouzi, Punjani and Fleet, "Fast Exact Search in Hamming Space with
Multi-Index Hashing" (2014). A ``bits``-bit code is cut into ``m`` disjoint
substrings. If two codes are within ``r`` and ``r = s*m + a`` (0 <= a < m),
then one of the first ``a + 1`` substrings differs by at most ``s`` bits or
one of the others by at most ``s - 1`` (otherwise the distance would be at
least ``(a+1)(s+1) + (m-a-1)s = r + 1``). So probing every substring key
within its radius finds every code within ``r``; each candidate is then
checked on all bits, so nothing outside ``r`` is returned. ``Plan`` picks
``m`` to balance the number of probes against the expected bucket sizes.

A ``Segment`` is immutable once built (``alive`` flags aside). Per substring
table, entries are counting-sorted by the top ``dir_bits`` of their key: a
directory of offsets, then for each entry its id and the remaining low key
bits (uint8 or uint16), so a probe is one directory read and a short scan.
Codes are rows of uint64 words; bit ``i`` is bit ``i % 64`` of word ``i // 64``
(only consistency matters, never the order). The kernels are compiled by
numba with the GIL released, so queries on several threads use several cores.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

from node.kernels import build_tables, scan_codes, search_segment

_MAX_SUBSTRING_BITS = 32


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

    @property
    def probes(self) -> int:
        return sum(_ball(w, r) for w, r in zip(self.widths, self.radii, strict=True))


@cache
def _ball(width: int, radius: int) -> int:
    return sum(math.comb(width, k) for k in range(radius + 1)) if radius >= 0 else 0


def plan(bits: int, radius: int, n: int) -> Plan:
    """The substring count with the least expected work (probes + candidates)."""
    if not 0 <= radius < bits:
        raise ValueError(f"radius must be in [0, {bits}), got {radius}")
    n = max(n, 1)
    best: tuple[float, Plan] | None = None
    for m in range(-(-bits // _MAX_SUBSTRING_BITS), min(bits, 64) + 1):
        base, extra = divmod(bits, m)
        widths = tuple(base + (1 if i < extra else 0) for i in range(m))
        s, a = divmod(radius, m)
        radii = tuple(s if i <= a else s - 1 for i in range(m))
        probes = sum(_ball(w, r) for w, r in zip(widths, radii, strict=True))
        candidates = sum(_ball(w, r) * n / 2.0**w for w, r in zip(widths, radii, strict=True))
        tables = sum(1 for r in radii if r >= 0)
        cost = probes + candidates + tables * 8
        if best is None or cost < best[0]:
            offsets = tuple(sum(widths[:i]) for i in range(m))
            # About eight entries per directory slot; the low bits kept per
            # entry must fit in 16 bits.
            target = max(1, round(math.log2(n)) - 3)
            dirs = tuple(max(w - 16, min(w, target)) for w in widths)
            best = (cost, Plan(bits, radius, offsets, widths, radii, dirs))
    assert best is not None
    return best[1]


class Segment:
    """An immutable MIH over ``codes`` (n x words uint64), with per-entry alive flags."""

    def __init__(self, codes: np.ndarray, plan_: Plan) -> None:
        self.codes = np.ascontiguousarray(codes, dtype=np.uint64)
        self.plan = plan_
        self.alive = np.ones(len(codes), dtype=np.bool_)
        used = [i for i, r in enumerate(plan_.radii) if r >= 0]
        self.offsets = np.array([plan_.offsets[i] for i in used], dtype=np.int64)
        self.widths = np.array([plan_.widths[i] for i in used], dtype=np.int64)
        self.dir_bits = np.array([plan_.dir_bits[i] for i in used], dtype=np.int64)
        low = int(max((self.widths - self.dir_bits).max(initial=0), 0))
        low_dtype = np.uint8 if low <= 8 else np.uint16
        self.dir_base = np.zeros(len(used) + 1, dtype=np.int64)
        self.dir_base[1:] = np.cumsum((1 << self.dir_bits) + 1)
        n = len(self.codes)
        self.directory = np.zeros(
            int(self.dir_base[-1]), dtype=np.int64 if n >= 2**31 else np.int32
        )
        self.ids = np.empty(len(used) * n, dtype=np.uint32)
        self.low = np.empty(len(used) * n, dtype=low_dtype)
        if n:
            build_tables(
                self.codes, self.offsets, self.widths, self.dir_bits, self.dir_base,
                self.directory, self.ids, self.low,
            )  # fmt: skip

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def nbytes(self) -> int:
        arrays = (self.codes, self.alive, self.directory, self.ids, self.low)
        return sum(a.nbytes for a in arrays)

    def search(self, query: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids and distances of alive codes within ``radius`` (<= the plan's) of ``query``."""
        if not 0 <= radius <= self.plan.radius:
            raise ValueError(f"segment planned for radius {self.plan.radius}, asked {radius}")
        if not len(self.codes):
            return np.empty(0, np.int64), np.empty(0, np.int64)
        radii, probes = self._radii(radius)
        return search_segment(
            self.codes, self.alive, self.offsets, self.widths, radii, self.dir_bits,
            self.dir_base, self.directory, self.ids, self.low, probes,
            np.ascontiguousarray(query, dtype=np.uint64), radius,
        )  # fmt: skip

    @lru_cache(maxsize=64)  # noqa: B019 - a handful of radii per segment
    def _radii(self, radius: int) -> tuple[np.ndarray, int]:
        # The pigeonhole split for a smaller radius probes a subset of the
        # tables built for the plan's radius (a smaller radius never needs a
        # table the plan left out), each within a radius no larger.
        s, a = divmod(radius, len(self.plan.widths))
        radii = np.array([s if i <= a else s - 1 for i in range(len(self.offsets))], np.int64)
        probes = sum(_ball(int(w), int(r)) for w, r in zip(self.widths, radii, strict=True))
        return radii, max(probes, 1)


def scan(
    codes: np.ndarray, alive: np.ndarray, count: int, query: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """Brute force over the first ``count`` rows: the exact reference, and the buffer."""
    return scan_codes(codes, alive, count, np.ascontiguousarray(query, dtype=np.uint64), radius)


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
        scan(codes, segment.alive, n, codes[0], radius)
    return time.monotonic() - started
