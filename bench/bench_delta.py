"""Delta encode/decode throughput for a 100,000-hash publication.

    python -m bench.bench_delta [--hashes N] [--runs N]

A publication is as many v2 leaves of at most 65,535 bytes as it needs (about
120 for 100,000 PDQ hashes); each operation runs over all of them.
Target (issue 2): at least 1,000,000 hashes per second decode.
"""

from __future__ import annotations

import argparse
import os

from bench.common import header, median_seconds, row
from hashlist.delta import MAX_ENTRY_BYTES, decode_delta, make_delta
from hashlist.log import plan_deltas
from hashlist.lthash import LtHash16
from hashlist.signals import SignalText


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hashes", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    n = args.hashes
    adds = {SignalText(f"pdq:{os.urandom(32).hex()}") for _ in range(n - n // 10)}
    removes = {SignalText(f"md5:{os.urandom(16).hex()}") for _ in range(n // 10)}
    plans = plan_deltas("takeitdown", 1, LtHash16().to_bytes(), adds, removes, present=removes,
                        max_delta_bytes=MAX_ENTRY_BYTES)  # fmt: skip
    leaves = [p.leaf for p in plans]
    deltas = [decode_delta(leaf) for leaf in leaves]
    size = sum(map(len, leaves))

    header(f"delta codec, {n:,} hashes in {len(leaves)} leaves ({size / 1e6:.1f} MB)", args.runs)
    t, _ = median_seconds(lambda: [d.encode() for d in deltas], args.runs)
    row("encode", n / t, "hashes/s")
    t, _ = median_seconds(lambda: [decode_delta(leaf) for leaf in leaves], args.runs)
    row("decode (with full canonicity checks)", n / t, "hashes/s")
    t, _ = median_seconds(lambda: [make_delta("takeitdown", d.version, d.state_digest,
                                              d.additions, d.removals) for d in deltas],
                          args.runs)  # fmt: skip
    row("make_delta from user text (parse, sort, dedup)", n / t, "hashes/s")


if __name__ == "__main__":
    main()
