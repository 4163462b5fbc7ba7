"""LtHash16 benchmarks beside one hashlib.sha256 per element, same strings, same run.

    python -m bench.bench_lthash [--elements N] [--runs N]

Target (issue 2): at least 200,000 elements per second per core.
"""

from __future__ import annotations

import argparse
import hashlib
import os

from bench.common import header, median_seconds, row
from hashlist.lthash import LtHash16


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--elements", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    n = args.elements
    elements = [f"pdq:{os.urandom(32).hex()}" for _ in range(n)]
    small = elements[: n // 10]

    header(f"LtHash16 (1024 x 16-bit lanes, BLAKE3 XOF), {n:,} PDQ signals", args.runs)

    def incremental() -> None:
        state = LtHash16()
        for i in range(0, len(small), 100):  # deltas of 100: the incremental path
            state.add(small[i : i + 100])

    def sha_each() -> None:
        for e in elements:
            hashlib.sha256(e.encode("ascii")).digest()

    t, _ = median_seconds(incremental, args.runs)
    row("incremental add, deltas of 100 elements", len(small) / t, "elements/s")
    t, _ = median_seconds(lambda: LtHash16.of(elements).digest(), args.runs)
    row(f"digest of a {n:,}-element set from scratch", n / t, "elements/s", f"({t:.2f} s)")
    t, _ = median_seconds(sha_each, args.runs)
    row("reference: one hashlib.sha256 per element", n / t, "elements/s", f"({t:.2f} s)")


if __name__ == "__main__":
    main()
