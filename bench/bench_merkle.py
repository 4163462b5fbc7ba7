"""Merkle benchmarks: compact-range appends and inclusion proofs at 1,000,000 leaves.

python -m bench.bench_merkle [--leaves N] [--runs N]
"""

from __future__ import annotations

import argparse
import hashlib
import random

from bench.common import header, median_seconds, row
from hashlist.merkle import CompactRange, MerkleTree, verify_inclusion


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    n = args.leaves
    leaf_hashes = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(n)]

    header(f"Merkle, {n:,} leaves", args.runs)
    t, _ = median_seconds(lambda: CompactRange().extended(leaf_hashes), args.runs)
    row("compact range: append leaves", n / t, "leaves/s", f"({t:.2f} s for {n:,})")

    tree = MerkleTree()
    t, _ = median_seconds(lambda: MerkleTree(leaf_hashes), max(1, args.runs // 2))
    row("full tree: build (all levels kept)", n / t, "leaves/s", f"({t:.2f} s)")
    tree = MerkleTree(leaf_hashes)
    root = tree.root()
    rng = random.Random(1)
    indices = [rng.randrange(n) for _ in range(args.proofs)]

    def build() -> None:
        for i in indices:
            tree.inclusion_proof(i)

    proofs = [tree.inclusion_proof(i) for i in indices]

    def verify() -> None:
        for i, p in zip(indices, proofs, strict=True):
            verify_inclusion(leaf_hashes[i], i, n, p, root)

    t, _ = median_seconds(build, args.runs)
    row(f"inclusion proofs built at size {n:,}", len(indices) / t, "proofs/s")
    t, _ = median_seconds(verify, args.runs)
    row(f"inclusion proofs verified at size {n:,}", len(indices) / t, "proofs/s")
    t, _ = median_seconds(lambda: tree.consistency_proof(n // 3), args.runs)
    row("consistency proof built (n/3 -> n)", 1 / t, "proofs/s")


if __name__ == "__main__":
    main()
