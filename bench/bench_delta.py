"""Delta encode/decode throughput for a 100,000-hash delta.

    python -m bench.bench_delta [--hashes N] [--runs N]

Target (issue 2): at least 1,000,000 hashes per second decode.
"""

from __future__ import annotations

import argparse
import os

from bench.common import header, median_seconds, row
from hashlist.delta import decode_delta, make_delta


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hashes", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    n = args.hashes
    adds = [f"pdq:{os.urandom(32).hex()}" for _ in range(n - n // 10)]
    removes = [f"md5:{os.urandom(16).hex()}" for _ in range(n // 10)]
    delta = make_delta("takeitdown", 1, bytes(32), adds, removes)
    data = delta.encode()

    header(f"delta codec, {n:,} hashes ({len(data) / 1e6:.1f} MB)", args.runs)
    t, _ = median_seconds(delta.encode, args.runs)
    row("encode", n / t, "hashes/s")
    t, _ = median_seconds(lambda: decode_delta(data), args.runs)
    row("decode (with full canonicity checks)", n / t, "hashes/s")
    t, _ = median_seconds(lambda: make_delta("takeitdown", 1, bytes(32), adds, removes), args.runs)
    row("make_delta from user text (parse, sort, dedup)", n / t, "hashes/s")


if __name__ == "__main__":
    main()
