"""Near matching: the MIH index against faiss and numpy, at radius 31 on PDQ codes.

For each size and layout (uniform random; clustered near-duplicate families
at distances 0-40) it prints: build time and index memory; lookups per second
and p50/p99 latency for queries that miss (random codes) and that hit (listed
codes with 0-31 bits flipped), on one thread and on two; recall against
brute force (must be exactly 1.0); and, in the same run, the references:
faiss ``IndexBinaryFlat`` (exact full scan), faiss ``IndexBinaryMultiHash``
(16 tables x 16 bits, 1 flip) and numpy brute force.

    python -m bench.bench_match --sizes 1000000,10000000
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from bench.common import header
from node.mih import Segment, plan

RADIUS = 31


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


def timed(fn: Callable[[np.ndarray], object], queries: np.ndarray) -> list[float]:
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        out.append(time.perf_counter() - t)
    return out


def two_threads(fn: Callable[[np.ndarray], object], queries: np.ndarray) -> float:
    halves = np.array_split(queries, 2)
    with ThreadPoolExecutor(2) as pool:
        start = time.perf_counter()
        list(pool.map(lambda part: [fn(q) for q in part], halves))
        return len(queries) / (time.perf_counter() - start)


def report(label: str, lat: list[float], rate2: float | None = None) -> None:
    per = len(lat) / sum(lat)
    p50, p99 = np.percentile(np.array(lat) * 1e3, [50, 99])
    two = f"  two threads {rate2:>8,.0f}/s" if rate2 else ""
    print(f"  {label:<34} {per:>8,.0f}/s  p50 {p50:7.3f} ms  p99 {p99:7.3f} ms{two}")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(n: int, layout: str, queries: int, runs: int, faiss_multihash: bool) -> None:
    rng = np.random.default_rng(n)
    codes = uniform(rng, n) if layout == "uniform" else clustered(rng, n)
    misses = uniform(rng, queries)
    hits = flip_bits(rng, codes[rng.integers(0, n, queries)], rng.integers(0, 32, queries))
    print(f"\n## {n:,} codes, {layout}; {queries} miss + {queries} hit queries, radius {RADIUS}")

    builds = []
    for _ in range(runs):
        t = time.perf_counter()
        seg = Segment(codes, plan(256, RADIUS, n))
        builds.append(time.perf_counter() - t)
    p = seg.plan
    print(f"  MIH: {len(p.widths)} substrings of {min(p.widths)}-{max(p.widths)} bits, "
          f"{p.probes} probes/query; build median {statistics.median(builds):.2f} s "
          f"(N={runs}); index memory {seg.nbytes / 2**20:,.0f} MiB "
          f"(codes {codes.nbytes / 2**20:,.0f} MiB of it)")  # fmt: skip
    seg.search(misses[0], RADIUS)  # compiled before timing

    def mih(q: np.ndarray) -> object:
        return seg.search(q, RADIUS)

    for label, qs in (("MIH miss", misses), ("MIH hit", hits)):
        lats = [timed(mih, qs) for _ in range(runs)]
        best = sorted(lats, key=sum)[len(lats) // 2]  # the median run
        report(label, best, statistics.median(two_threads(mih, qs) for _ in range(runs)))

    sample = np.concatenate([misses[:25], hits[:25]])
    exact = all(set(map(int, seg.search(q, RADIUS)[0])) == brute(codes, q) for q in sample)
    found = sum(len(brute(codes, q)) for q in sample)
    print(f"  recall vs brute force on {len(sample)} queries ({found} neighbours): "
          f"{'1.0 (identical sets)' if exact else 'MISMATCH'}")  # fmt: skip
    report("numpy brute force", timed(lambda q: brute(codes, q), sample[:10]))

    try:
        import faiss
    except ImportError:
        print("  faiss not installed (pip install -e '.[bench]'): references skipped")
        return
    packed = np.ascontiguousarray(codes).view(np.uint8).reshape(n, 32)
    flat = faiss.IndexBinaryFlat(256)
    flat.add(packed)
    qpacked = np.ascontiguousarray(misses[:40]).view(np.uint8).reshape(-1, 32)
    faiss.omp_set_num_threads(1)
    report("faiss IndexBinaryFlat (1 thread)",
           timed(lambda q: flat.range_search(q[None], RADIUS + 1), qpacked))  # fmt: skip
    faiss.omp_set_num_threads(2)
    t = time.perf_counter()
    flat.range_search(qpacked, RADIUS + 1)
    print(f"  {'faiss IndexBinaryFlat batched, 2 thr':<34} "
          f"{len(qpacked) / (time.perf_counter() - t):>8,.0f}/s")  # fmt: skip
    flat.reset()  # free its copy of the codes before the next reference
    if faiss_multihash:
        before = rss_mb()
        t = time.perf_counter()
        mh = faiss.IndexBinaryMultiHash(256, 16, 16)
        mh.nflip = 1
        mh.add(packed)
        built = time.perf_counter() - t
        faiss.omp_set_num_threads(1)
        report(f"faiss MultiHash 16x16 (built {built:.0f} s)",
               timed(lambda q: mh.range_search(q[None], RADIUS + 1), qpacked[:20]))  # fmt: skip
        print(f"  faiss MultiHash peak RSS grew by ~{rss_mb() - before:,.0f} MiB")
        mh.reset()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--layouts", default="uniform,clustered")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-multihash", action="store_true", help="skip faiss MultiHash (slow)")
    args = ap.parse_args()
    header("near matching at radius 31 (PDQ, 256 bits)", args.runs)
    for n in (int(s) for s in args.sizes.split(",")):
        for layout in args.layouts.split(","):
            run(n, layout, args.queries, args.runs, not args.no_multihash)


if __name__ == "__main__":
    main()
