"""Near-match index: exact against brute force, at every moment of updates."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from node.index import NearIndex
from node.mih import Segment, codes_from_hex, hex_of, plan, scan


def random_codes(rng: np.random.Generator, n: int, words: int) -> np.ndarray:
    return rng.integers(0, 2**64 - 1, (n, words), dtype=np.uint64, endpoint=True)


def flip(rng: np.random.Generator, code: np.ndarray, k: int) -> np.ndarray:
    out = code.copy()
    for b in rng.choice(64 * len(code), size=k, replace=False):
        out[b // 64] ^= np.uint64(1) << np.uint64(b % 64)
    return out


def clustered(rng: np.random.Generator, n: int, words: int, spread: int) -> np.ndarray:
    """Near-duplicate families: each centre with copies at distances 0..spread."""
    centres = random_codes(rng, max(1, n // 20), words)
    rows = [
        flip(rng, centres[i % len(centres)], int(rng.integers(0, spread + 1))) for i in range(n)
    ]
    return np.array(rows, dtype=np.uint64)


def brute(codes: np.ndarray, alive: np.ndarray, q: np.ndarray, r: int) -> list[tuple[int, int]]:
    d = np.unpackbits((codes ^ q).view(np.uint8), axis=1).sum(axis=1)
    return sorted((int(i), int(d[i])) for i in np.flatnonzero((d <= r) & alive))


@pytest.mark.parametrize(
    ("bits", "radius", "n", "layout"),
    [
        (256, 31, 20_000, "uniform"),
        (256, 31, 5_000, "clustered"),
        (64, 8, 20_000, "clustered"),
        (64, 12, 3_000, "uniform"),
        (256, 31, 50, "clustered"),
    ],
)
def test_segment_equals_brute_force(bits: int, radius: int, n: int, layout: str) -> None:
    rng = np.random.default_rng(n + radius)
    words = bits // 64
    codes = random_codes(rng, n, words) if layout == "uniform" else clustered(rng, n, words, 40)
    seg = Segment(codes, plan(bits, radius, n))
    seg.alive[rng.choice(n, size=n // 10, replace=False)] = False
    # Queries at every distance around the radius from listed codes, plus misses.
    queries = [flip(rng, codes[int(rng.integers(n))], k) for k in range(0, radius + 6)]
    queries += list(random_codes(rng, 20, words))
    for q in queries:
        for r in (radius, radius // 2, 0):
            got = sorted(zip(*(map(int, a) for a in seg.search(q, r)), strict=True))
            assert got == brute(codes, seg.alive, q, r)
            assert got == sorted(
                zip(*(map(int, a) for a in scan(codes, seg.alive, n, q, r)), strict=True)
            )


def test_segment_refuses_radius_beyond_plan() -> None:
    seg = Segment(np.zeros((1, 1), np.uint64), plan(64, 4, 1))
    with pytest.raises(ValueError, match="radius"):
        seg.search(np.zeros(1, np.uint64), 5)


def as_hex(codes: np.ndarray) -> list[str]:
    return [hex_of(c) for c in codes]


class Model:
    """The reference: a dict of (list, code) for brute-force comparison."""

    def __init__(self) -> None:
        self.entries: set[tuple[str, str]] = set()

    def near(self, q: str, r: int) -> list[tuple[str, str, int]]:
        qi = int(q, 16)
        return sorted(
            (lst, c, bin(int(c, 16) ^ qi).count("1"))
            for lst, c in self.entries
            if bin(int(c, 16) ^ qi).count("1") <= r
        )


@pytest.mark.parametrize("background", [False, True])
def test_incremental_updates_stay_exact(background: bool) -> None:
    rng = np.random.default_rng(7)
    lock = threading.Lock()
    index = NearIndex(256, 31, ["a", "b"], buffer_size=64, ratio=2, background=background)
    index.bind(lambda: lock)
    model = Model()
    pool = list(dict.fromkeys(as_hex(clustered(rng, 2000, 4, 35))))  # a list holds a hash once
    index.load("a", [pool[:1000]])
    model.entries |= {("a", h) for h in pool[:1000]}
    for step in range(40):
        add = [h for h in rng.choice(pool, 50) if ("b", h) not in model.entries]
        add = list(dict.fromkeys(add))
        listed_a = sorted(h for lst, h in model.entries if lst == "a")
        remove = list(dict.fromkeys(rng.choice(listed_a, 10)))
        with lock:
            index.apply("b", add, [])
            index.apply("a", [], remove)
        model.entries |= {("b", h) for h in add}
        model.entries -= {("a", h) for h in remove}
        # A retracted code stops matching at once, merge or no merge.
        for h in remove[:3]:
            with lock:
                assert ("a", h, 0) not in index.search(h, 0)
        q = hex_of(flip(rng, codes_from_hex([pool[step * 7]], 4)[0], step % 33))
        with lock:
            assert sorted(index.search(q)) == model.near(q, 31)
    with lock:
        assert len(index) == len(model.entries)
    assert index.merges > 0
    assert index.segments < 12  # merged as it went, never one segment per flush


def test_drop_list_then_reload() -> None:
    rng = np.random.default_rng(3)
    index = NearIndex(64, 8, ["x", "y"], background=False)
    codes = as_hex(random_codes(rng, 300, 1))
    index.load("x", [codes[:200]])
    index.load("y", [codes[100:]])
    index.drop_list("x")
    assert all(lst == "y" for lst, _, _ in index.search(codes[150], 0))
    assert index.search(codes[50], 0) == []
    index.load("x", [codes[:10]])
    assert index.search(codes[5], 0) == [("x", codes[5], 0)]
