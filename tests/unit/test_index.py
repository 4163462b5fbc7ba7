"""Near-match index: exact against brute force, at every moment of updates."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.index import NearIndex
from node.mih import Plan, Segment, codes_from_hex, hex_of, plan, scan


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


@pytest.mark.parametrize(
    ("bits", "radius"), [(256, 31), (256, 0), (256, 200), (64, 8), (64, 12), (64, 0), (128, 20)]
)
@pytest.mark.parametrize("n", [1, 50, 1000, 4096, 100_000, 1_000_000, 10_000_000, 30_000_000])
def test_plans_meet_the_pigeonhole_bound(bits: int, radius: int, n: int) -> None:
    """Every plan covers the bits once, proves its radius, and fits the entry layout."""
    p = plan(bits, radius, n)
    assert sum(p.widths) == bits
    assert p.offsets == tuple(sum(p.widths[:i]) for i in range(len(p.widths)))
    assert sum(r + 1 for r in p.radii) == radius + 1
    indexed = [(w, d) for w, d, r in zip(p.widths, p.dir_bits, p.radii, strict=True) if r >= 0]
    assert 1 <= len(indexed) <= 16
    id_bits = max(1, (n - 1).bit_length())
    assert all(w <= 32 and 1 <= d <= w and w - d <= 32 - id_bits for w, d in indexed)


def test_ten_million_plan_is_generalized() -> None:
    """At 10M the wider parts take radius 2 and one narrower part radius 1 (GPH), which
    reads fewer buckets and candidates than equal widths would."""
    p = plan(256, 31, 10_000_000)
    assert sorted(set(zip(p.widths, p.radii, strict=True))) == [(20, 1), (23, 2), (24, 2)]
    assert p.probes == 2131


@st.composite
def custom_plans(draw: st.DrawFn) -> tuple[Plan, np.ndarray]:
    """Any layout the pigeonhole bound allows: uneven widths, per-part radii (-1 for an
    unindexed part), any directory split; and codes (near-duplicate families)."""
    bits = draw(st.sampled_from([64, 128]))
    cuts = sorted(draw(st.sets(st.integers(1, bits - 1), min_size=1, max_size=7)))
    widths = [b - a for a, b in zip([0, *cuts], [*cuts, bits], strict=True)]
    if max(widths) > 32:
        widths = [w for big in widths for w in ([big // 2, big - big // 2] if big > 32 else [big])]
        widths = [w for big in widths for w in ([big // 2, big - big // 2] if big > 32 else [big])]
    radii = [draw(st.integers(-1, 3)) for _ in widths]
    if max(radii) < 0:
        radii[0] = 0
    n = draw(st.integers(1, 300))
    id_bits = max(1, (n - 1).bit_length())
    dirs = [draw(st.integers(max(1, w - (32 - id_bits)), min(w, 16))) if r >= 0 else 0
            for w, r in zip(widths, radii, strict=True)]  # fmt: skip
    offsets = tuple(sum(widths[:i]) for i in range(len(widths)))
    radius = sum(r + 1 for r in radii) - 1
    rng = np.random.default_rng(draw(st.integers(0, 2**32)))
    codes = clustered(rng, n, bits // 64, draw(st.integers(0, min(2 * radius + 2, bits // 2))))
    return Plan(bits, radius, offsets, tuple(widths), tuple(radii), tuple(dirs)), codes


@given(custom_plans(), st.integers(0, 2**32))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_pigeonhole_plan_is_exact(case: tuple[Plan, np.ndarray], seed: int) -> None:
    """Exact at the plan's radius and at every smaller one, with retracted entries,
    single and batched, whatever widths, radii and directory sizes the plan has."""
    p, codes = case
    rng = np.random.default_rng(seed)
    n, words = codes.shape
    seg = Segment(codes, p)
    seg.alive[rng.choice(n, size=n // 5, replace=False)] = False
    queries = np.array(
        [flip(rng, codes[int(rng.integers(n))], int(k)) for k in rng.integers(0, p.radius + 4, 6)]
        + list(random_codes(rng, 2, words))
    )
    for r in sorted({p.radius, p.radius // 2, max(p.radius - 1, 0), 1 % (p.radius + 1), 0}):
        bounds, ids, dist = seg.search_many(queries, r)
        for k, q in enumerate(queries):
            got = sorted(zip(*(map(int, a) for a in seg.search(q, r)), strict=True))
            assert got == brute(codes, seg.alive, q, r)
            batch = zip(
                ids[bounds[k] : bounds[k + 1]], dist[bounds[k] : bounds[k + 1]], strict=True
            )
            assert sorted((int(i), int(d)) for i, d in batch) == got


@pytest.mark.parametrize("radius", [0, 1, 5, 12, 20, 30, 31])
def test_probe_radii_keep_the_bound(radius: int) -> None:
    """Per-table probe radii for any query radius meet sum(radius_i + 1) >= radius + 1,
    within the masks the segment holds; on evenly spread codes at the plan's radius
    they are the plan's own."""
    seg = Segment(random_codes(np.random.default_rng(1), 5000, 4), plan(256, 31, 10_000_000))
    probe, counts = seg._thresholds(radius)
    assert sum(int(t) + 1 for t in probe) >= radius + 1
    assert all(-1 <= t <= r + 1 for t, r in zip(probe, seg.radii, strict=True))
    assert all(c <= seg.mask_base[i + 1] - seg.mask_base[i] for i, c in enumerate(counts))
    if radius == 31:
        assert list(probe) == list(seg.radii)


def test_crowded_table_is_probed_less_and_search_stays_exact() -> None:
    """Codes whose first 16 bits are mostly the same crowd one table's buckets: the
    segment probes that table less (generalized pigeonhole, from the data) and others
    more, and still answers exactly."""
    rng = np.random.default_rng(5)
    n = 20_000
    codes = random_codes(rng, n, 4)
    codes[rng.random(n) < 0.9, 0] &= ~np.uint64(0xFFFF)  # bits 0-15 zero in 90% of codes
    seg = Segment(codes, plan(256, 31, n))
    assert seg.offsets[0] == 0
    assert seg.widths[0] <= 16
    assert seg.crowding[0] > 100 > seg.crowding[1:].max()
    probe, _ = seg._thresholds(31)
    assert probe[0] < seg.radii[0]
    assert list(probe) != list(seg.radii)
    queries = [flip(rng, codes[int(rng.integers(n))], k) for k in range(0, 36, 2)]
    queries += list(random_codes(rng, 5, 4))
    for q in queries:
        for r in (31, 20):
            got = sorted(zip(*(map(int, a) for a in seg.search(q, r)), strict=True))
            assert got == brute(codes, seg.alive, q, r)


def test_segment_keeps_codes_on_cache_lines() -> None:
    codes = random_codes(np.random.default_rng(2), 100, 4)[1:]  # a view off any alignment
    seg = Segment(codes, plan(256, 31, len(codes)))
    assert seg.codes.ctypes.data % 64 == 0
    assert (seg.codes == codes).all()


def check_many(index: NearIndex, queries: list[str], radius: int | None = None) -> None:
    """search_many answers exactly what search does, query by query, in input order."""
    assert index.search_many(queries, radius) == [index.search(q, radius) for q in queries]


def test_search_many_matches_search_across_parts_and_buffer() -> None:
    rng = np.random.default_rng(11)
    index = NearIndex(256, 31, ["a", "b"], buffer_size=256, ratio=1, background=False)
    pool = as_hex(clustered(rng, 3000, 4, 35))
    index.load("a", [pool[:1500]])
    index.apply("b", pool[1500:2800], [])  # several flushed segments, some still buffered
    index.apply("a", [], pool[:300:3])
    index.apply("b", [], pool[1500:2800:7])
    assert index.segments > 2
    queries = [hex_of(flip(rng, codes_from_hex([pool[i]], 4)[0], i % 34)) for i in range(300)]
    queries += as_hex(random_codes(rng, 20, 4)) + pool[:5]
    for radius in (None, 31, 17, 3, 0):
        check_many(index, queries, radius)
    assert index.search_many([]) == []
    with pytest.raises(ValueError, match="radius"):
        index.search_many(queries, 32)


def test_load_codes_equals_load() -> None:
    rng = np.random.default_rng(12)
    codes = random_codes(rng, 500, 4)
    by_hex, by_codes = NearIndex(256, 31, ["a"]), NearIndex(256, 31, ["a"])
    by_hex.load("a", [as_hex(codes[:200]), as_hex(codes[200:])])
    by_codes.load_codes("a", codes)
    queries = as_hex(codes[:50])
    assert by_hex.search_many(queries) == by_codes.search_many(queries)
    with pytest.raises(ValueError, match="array"):
        by_codes.load_codes("a", codes[:, :2])


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
        near = [hex_of(flip(rng, codes_from_hex([h], 4)[0], step % 20)) for h in remove[:2]]
        with lock:
            assert sorted(index.search(q)) == model.near(q, 31)
            batch = index.search_many([q, *near, *remove[:2]], 31 - step % 7)
        assert [sorted(hits) for hits in batch] == [
            model.near(h, 31 - step % 7) for h in [q, *near, *remove[:2]]
        ]
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
