"""Near matching: the MIH index against faiss and brute force, at radius 31 on PDQ codes.

Target (issue): at 10,000,000 codes, for both layouts below, at least 10,000
lookups/s on the machine's two cores with p99 under 2 ms, in at most 1.3 GB,
recall exactly 1.0 against brute force; faiss ``IndexBinaryFlat`` measured in
the same run as the reference.

For each size and layout (uniform random; clustered near-duplicate families
at distances 0-40) it prints:

* the plan, and the build time of a ``Segment`` (median of the runs);
* single lookups (``Segment.search``) per second with p50/p99 latency, on one
  thread and on two, for queries that miss (random codes) and that hit
  (listed codes with 0-31 bits flipped);
* the full ``NearIndex`` (``load_codes``, one list): ``search`` on one and two
  threads, and ``search_many`` (both cores) in batches of 256 and of all the
  queries at once;
* memory: the index's arrays (``Segment.nbytes``, ``NearIndex.nbytes``), the
  growth of the process's resident set while building, and its peak RSS;
* recall against brute force (the numba scan, cross-checked by numpy): it must
  be exactly 1.0 for ``Segment.search`` and ``NearIndex.search_many``, else
  the benchmark says MISMATCH and exits with status 1;
* the references in the same run: numpy brute force, faiss
  ``IndexBinaryFlat`` (exact full scan) and, unless ``--no-multihash``, faiss
  ``IndexBinaryMultiHash`` (16 tables x 16 bits, 1 flip).

    python -m bench.bench_match --sizes 10000000 --no-multihash
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.common import header
from node.index import NearIndex
from node.mih import Plan, Segment, aligned_rows, hex_of, plan, scan

RADIUS = 31
Lookup = Callable[[Any], object]


def uniform(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2**64 - 1, (n, 4), dtype=np.uint64, endpoint=True)


def flip_bits(rng: np.random.Generator, codes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each row with ``counts[i]`` random bits flipped (repeats allowed: <= counts[i])."""
    out = codes.copy()
    rows = np.arange(len(codes))
    for step in range(int(counts.max(initial=0))):
        pick = rows[counts > step]
        bits = rng.integers(0, 256, len(pick))
        out[pick, bits // 64] ^= np.uint64(1) << (bits % 64).astype(np.uint64)
    return out


def clustered(rng: np.random.Generator, n: int) -> np.ndarray:
    centres = uniform(rng, max(1, n // 20))
    return flip_bits(rng, centres[rng.integers(0, len(centres), n)], rng.integers(0, 41, n))


def brute(codes: np.ndarray, q: np.ndarray) -> set[int]:
    d = np.zeros(len(codes), np.int64)
    for w in range(4):
        d += np.bitwise_count(codes[:, w] ^ q[w])
    return {int(i) for i in np.flatnonzero(d <= RADIUS)}


def timed(fn: Lookup, queries: Sequence[Any]) -> list[float]:
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        out.append(time.perf_counter() - t)
    return out


def threaded(fn: Lookup, queries: Sequence[Any], threads: int) -> tuple[float, list[float]]:
    """Lookups per second with ``threads`` threads each taking its share, and every latency."""
    step = -(-len(queries) // threads)
    parts = [queries[k : k + step] for k in range(0, len(queries), step)]
    with ThreadPoolExecutor(threads) as pool:
        start = time.perf_counter()
        lats = list(pool.map(lambda part: timed(fn, part), parts))
        elapsed = time.perf_counter() - start
    return len(queries) / elapsed, [x for part in lats for x in part]


def lookups(label: str, fn: Lookup, queries: Sequence[Any], runs: int) -> None:
    """One line per thread count: the median run's rate, p50 and p99."""
    for threads in (1, 2):
        results = sorted(threaded(fn, queries, threads) for _ in range(runs))
        rate, lats = results[len(results) // 2]
        p50, p99 = np.percentile(np.array(lats) * 1e3, [50, 99])
        print(f"  {label:<26} {threads} thread{'s' if threads > 1 else ' '} "
              f"{rate:>9,.0f}/s  p50 {p50:7.3f} ms  p99 {p99:7.3f} ms")  # fmt: skip


def rate(label: str, fn: Callable[[], object], count: int, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    per = count / statistics.median(times)
    print(f"  {label:<36} {per:>9,.0f}/s  (median of N={runs})")
    return per


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def exact_neighbours(codes: np.ndarray, queries: np.ndarray) -> list[list[tuple[int, int]]]:
    """(id, distance) of every code within the radius of each query, by full scan."""
    alive = np.ones(len(codes), np.bool_)
    out = []
    for q in queries:
        ids, dist = scan(codes, alive, len(codes), q, RADIUS)
        out.append(list(zip(ids.tolist(), dist.tolist(), strict=True)))
    return out


@dataclass(frozen=True)
class Queries:
    misses: np.ndarray
    hits: np.ndarray
    sample: np.ndarray
    """The queries checked against brute force."""
    truth: list[list[tuple[int, int]]]
    """(id, distance) of every code within the radius of each sample query."""


def recall(label: str, got: Sequence[list[Any]], truth: Sequence[list[Any]]) -> bool:
    """Whether each query's sorted answers equal brute force's (duplicates counted)."""
    ok = [sorted(g) for g in got] == [sorted(t) for t in truth]
    verdict = "1.0 (identical answers)" if ok else "MISMATCH"
    found = sum(len(t) for t in truth)
    print(f"  recall of {label} vs brute force, {len(truth)} queries ({found} neighbours): "
          f"{verdict}")  # fmt: skip
    return ok


def shape(p: Plan) -> str:
    tables = [f"{w}b r{r}" for w, r in zip(p.widths, p.radii, strict=True) if r >= 0]
    parts = ", ".join(f"{tables.count(t)}x {t}" for t in dict.fromkeys(tables))
    return f"{len(tables)} tables ({parts}); {p.probes} buckets/query at radius {p.radius}"


def built(codes: np.ndarray) -> tuple[Segment, float]:
    gc.collect()  # the previous run's index is gone before this one is built
    t = time.perf_counter()
    seg = Segment(codes, plan(256, RADIUS, len(codes)))
    return seg, time.perf_counter() - t


def measure_segment(codes: np.ndarray, queries: Queries, runs: int) -> bool:
    builds = [built(codes)[1] for _ in range(runs - 1)]
    before = rss_mb()
    seg, last = built(codes)
    grown = rss_mb() - before
    builds.append(last)
    print(f"  plan: {shape(seg.plan)}")
    print(f"  Segment build median {statistics.median(builds):.2f} s (N={runs}: "
          f"{', '.join(f'{b:.2f}' for b in builds)})")  # fmt: skip
    print(f"  Segment.nbytes {seg.nbytes / 2**20:,.0f} MiB (codes {codes.nbytes / 2**20:,.0f} "
          f"MiB of it); RSS grew {grown:,.0f} MiB building it")  # fmt: skip
    seg.search(queries.misses[0], RADIUS)  # compiled before timing

    def mih(q: np.ndarray) -> object:
        return seg.search(q, RADIUS)

    lookups("Segment.search miss", mih, list(queries.misses), runs)
    lookups("Segment.search hit", mih, list(queries.hits), runs)
    found = [seg.search(q, RADIUS) for q in queries.sample]
    got = [list(zip(ids.tolist(), dist.tolist(), strict=True)) for ids, dist in found]
    return recall("Segment.search", got, queries.truth)


def measure_index(codes: np.ndarray, queries: Queries, runs: int) -> bool:
    gc.collect()
    before = rss_mb()
    index = NearIndex(256, RADIUS, ["bench"])
    index.load_codes("bench", codes)
    print(f"  NearIndex.nbytes {index.nbytes / 2**20:,.0f} MiB ({index.segments} segment); "
          f"RSS grew {rss_mb() - before:,.0f} MiB building it (codes: the bench's)")  # fmt: skip
    hexes = [hex_of(q) for q in np.concatenate([queries.misses, queries.hits])]
    index.search_many(hexes[:2])
    lookups("NearIndex.search", index.search, hexes, runs)
    for batch in (256, len(hexes)):

        def calls(size: int = batch) -> object:
            return [index.search_many(hexes[k : k + size]) for k in range(0, len(hexes), size)]

        rate(f"NearIndex.search_many, {batch}/call", calls, len(hexes), runs)
    # Its answers are codes: compared with brute force's as (code, distance).
    many = index.search_many([hex_of(q) for q in queries.sample])
    got = [[(code, d) for _, code, d in hits] for hits in many]
    truth = [[(hex_of(codes[i]), d) for i, d in t] for t in queries.truth]
    return recall("NearIndex.search_many", got, truth)


def run(n: int, layout: str, queries: int, runs: int, faiss_multihash: bool) -> bool:
    rng = np.random.default_rng(n)
    codes = aligned_rows(n, 4)  # as NearIndex keeps them: indexed without a copy
    codes[:] = uniform(rng, n) if layout == "uniform" else clustered(rng, n)
    misses = uniform(rng, queries)
    hits = flip_bits(rng, codes[rng.integers(0, n, queries)], rng.integers(0, 32, queries))
    print(f"\n## {n:,} codes, {layout}; {queries} miss + {queries} hit queries, radius {RADIUS}")
    sample = np.concatenate([misses[:100], hits[:100]])
    truth = exact_neighbours(codes, sample)
    # The scan that is the truth is itself checked against numpy on a few queries.
    checked = range(0, len(sample), max(1, len(sample) // 10))
    t = time.perf_counter()
    ok = all({i for i, _ in truth[k]} == brute(codes, sample[k]) for k in checked)
    numpy_rate = len(checked) / (time.perf_counter() - t)
    if not ok:
        print("  the numba scan and numpy brute force disagree: MISMATCH")
    q = Queries(misses, hits, sample, truth)
    ok &= measure_segment(codes, q, runs)
    ok &= measure_index(codes, q, runs)
    print(f"  {'numpy brute force':<36} {numpy_rate:>9,.0f}/s")
    faiss_references(codes, misses, faiss_multihash, runs)
    print(f"  process peak RSS so far {peak_rss_mb():,.0f} MiB (the bench's codes and queries, "
          f"one index at a time, faiss's copy of the codes)")  # fmt: skip
    return ok


def faiss_references(codes: np.ndarray, queries: np.ndarray, multihash: bool, runs: int) -> None:
    try:
        import faiss
    except ImportError:
        print("  faiss not installed (pip install -e '.[bench]'): references skipped")
        return
    n = len(codes)
    packed = np.ascontiguousarray(codes).view(np.uint8).reshape(n, 32)
    flat = faiss.IndexBinaryFlat(256)
    flat.add(packed)
    qpacked = np.ascontiguousarray(queries[:40]).view(np.uint8).reshape(-1, 32)
    faiss.omp_set_num_threads(1)
    lat = timed(lambda q: flat.range_search(q[None], RADIUS + 1), list(qpacked))
    p50, p99 = np.percentile(np.array(lat) * 1e3, [50, 99])
    print(f"  {'faiss IndexBinaryFlat, 1 thread':<36} {len(lat) / sum(lat):>9,.0f}/s  "
          f"p50 {p50:7.3f} ms  p99 {p99:7.3f} ms")  # fmt: skip
    faiss.omp_set_num_threads(2)
    rate("faiss IndexBinaryFlat batched, 2 thr",
         lambda: flat.range_search(qpacked, RADIUS + 1), len(qpacked), runs)  # fmt: skip
    flat.reset()  # free its copy of the codes before the next reference
    if multihash:
        before = peak_rss_mb()
        t = time.perf_counter()
        mh = faiss.IndexBinaryMultiHash(256, 16, 16)
        mh.nflip = 1
        mh.add(packed)
        built = time.perf_counter() - t
        faiss.omp_set_num_threads(1)
        lat = timed(lambda q: mh.range_search(q[None], RADIUS + 1), list(qpacked[:20]))
        print(f"  {f'faiss MultiHash 16x16 (built {built:.0f} s)':<36} "
              f"{len(lat) / sum(lat):>9,.0f}/s; peak RSS grew by ~"
              f"{peak_rss_mb() - before:,.0f} MiB")  # fmt: skip
        mh.reset()


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--layouts", default="uniform,clustered")
    ap.add_argument("--queries", type=int, default=2000, help="of each kind (miss, hit)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-multihash", action="store_true", help="skip faiss MultiHash (slow)")
    args = ap.parse_args(argv)
    header("near matching at radius 31 (PDQ, 256 bits)", args.runs)
    ok = True
    for n in (int(s) for s in args.sizes.split(",")):
        for layout in args.layouts.split(","):
            ok &= run(n, layout, args.queries, args.runs, not args.no_multihash)
    if not ok:
        raise SystemExit("recall is not exactly 1.0: the index is wrong")


if __name__ == "__main__":
    main()
