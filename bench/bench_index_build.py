"""The near index from a node's replica: start-up build time, memory, and delta updates.

Creates (once, cached in ``--cache``) a node SQLite replica holding ``--hashes``
random PDQ signals, then times ``Matcher.load()`` (read the rows, parse, build
the MIH; nothing is rehashed) and applying deltas of 1,000 additions and 100
retractions through the observer hook, as the sync loop does.

    python -m bench.bench_index_build --hashes 10000000 --runs 3
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
from pathlib import Path

import numpy as np

from bench.common import header, row
from hashlist.clock import SystemClock
from node.matcher import MatchSettings, open_matcher
from node.store import SqliteNodeStore

LIST = "takeitdown"


def replica(path: Path, n: int) -> None:
    if path.exists():
        return
    store = SqliteNodeStore(path)
    rng = np.random.default_rng(n)
    db = store.db
    db.execute("BEGIN")
    for start in range(0, n, 500_000):
        raw = rng.integers(0, 256, (min(n, start + 500_000) - start, 32), dtype=np.uint8)
        hexes = raw.tobytes().hex()
        db.executemany(
            "INSERT INTO members VALUES(?,?,1)",
            ((LIST, f"pdq:{hexes[i * 64 : i * 64 + 64]}") for i in range(len(raw))),
        )
    db.execute("COMMIT")
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hashes", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cache", default="/tmp/hashlist-bench")
    args = ap.parse_args()
    header(f"near index built from a {args.hashes:,}-hash replica", args.runs)
    os.makedirs(args.cache, exist_ok=True)
    path = Path(args.cache) / f"replica-{args.hashes}.db"
    t = time.perf_counter()
    replica(path, args.hashes)
    print(f"# replica ready in {time.perf_counter() - t:.0f} s ({path.stat().st_size >> 20} MiB)")
    loads = []
    matcher = None
    for _ in range(args.runs):
        matcher = open_matcher(path, (LIST,), SystemClock(), MatchSettings(background_merge=False))
        t = time.perf_counter()
        matcher.load()
        loads.append(time.perf_counter() - t)
        if len(loads) < args.runs:
            matcher.close()
    assert matcher is not None
    index = matcher.indexes[next(iter(matcher.indexes))]
    row("start-up build from the replica (median)", statistics.median(loads), "s",
        f"({', '.join(f'{x:.1f}' for x in loads)})")  # fmt: skip
    row("index memory", index.nbytes / 2**20, "MiB")
    rng = np.random.default_rng(1)
    listed = list(itertools.islice(matcher.replica.signals(LIST), 20000))
    times = []
    for step in range(20):
        adds = [f"pdq:{x}" for x in rng.integers(0, 256, (1000, 32), dtype=np.uint8)
                .tobytes().hex(sep=" ", bytes_per_sep=32).split()]  # fmt: skip
        removes = listed[step * 100 : step * 100 + 100]
        t = time.perf_counter()
        with matcher.exclusive():
            matcher.applied(LIST, [(adds, removes)], replaced=False)
        times.append(time.perf_counter() - t)
    shape = f"max {max(times) * 1e3:.0f} ms; {index.segments} segments, {index.merges} merges"
    row("apply a delta (+1000, -100), median of 20", statistics.median(times) * 1e3, "ms", shape)
    matcher.close()


if __name__ == "__main__":
    main()
