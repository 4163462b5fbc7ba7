"""CheckBatch end to end at 10 million listed PDQ hashes, against single checks.

A node's replica (SQLite, the node's own schema) is filled with ``--hashes``
random PDQ hashes (written directly: syncing is ``bench_bootstrap``'s
subject), and a separate process serves it as ``hashlist node run`` does:
the Matcher (``open_matcher`` + ``load``, kernels warmed) on a Unix socket.
This process plays the platform's backfill: ``CheckBatch`` calls of
``--batch`` PDQ hashes (one in ten a listed hash with 1-31 bits flipped, the
rest random), dry runs so the outbox stays empty, and, in the same run, the
reference: single ``Check`` calls from two client threads.

Target (issue "partners for real"): at least 8,000 PDQ hashes/s by CheckBatch
on 2 cores. Prints hashes/s per run and the median, and checks that every
planted near match was found.

    python -m bench.bench_check_batch [--hashes 10000000] [--batch 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bench.common import header, row
from hashlist.cli.demo import wait_until
from hashlist.model import CheckQuery, CheckResult
from node.service import MatcherClient

LIST = "takeitdown"


def fill_replica(database: Path, n: int, seed: int) -> np.ndarray:
    """A node database listing ``n`` random PDQ hashes; returns them as (n, 32) uint8."""
    from node.store import SqliteNodeStore

    SqliteNodeStore(database).close()  # the node's schema, migrated
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    conn = sqlite3.connect(database)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    for start in range(0, n, 500_000):
        chunk = codes[start : start + 500_000]
        conn.executemany(
            "INSERT OR IGNORE INTO members(list_id, signal, version) VALUES (?, ?, 1)",
            ((LIST, f"pdq:{row.tobytes().hex()}") for row in chunk),
        )
    conn.commit()
    conn.close()
    return codes


def serve(database: Path, socket: Path) -> None:
    """The node side (run in its own process): load the index, serve until killed."""
    from hashlist.clock import SystemClock
    from node.matcher import MatchSettings, open_matcher
    from node.mih import warm_up
    from node.service import running_matcher

    matcher = open_matcher(database, [LIST], SystemClock(), MatchSettings())
    warm_up([(256, 31), (64, 8)])
    started = time.perf_counter()
    matcher.load()
    print(f"loaded {time.perf_counter() - started:.1f}", flush=True)
    with running_matcher(matcher, f"unix:{socket}", max_message_bytes=64 << 20):
        while True:
            time.sleep(3600)


def queries(codes: np.ndarray, n: int, seed: int) -> tuple[list[CheckQuery], set[int]]:
    """``n`` dry-run PDQ queries: every tenth a listed hash with 1-31 bits flipped."""
    rng = np.random.default_rng(seed)
    out, planted = [], set()
    for i in range(n):
        if i % 10 == 0:
            code = np.unpackbits(codes[rng.integers(0, len(codes))])
            flip = rng.choice(256, size=int(rng.integers(1, 32)), replace=False)
            code[flip] ^= 1
            hexcode = np.packbits(code).tobytes().hex()
            planted.add(i)
        else:
            hexcode = rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()
        out.append(CheckQuery(signals=(f"pdq:{hexcode}",), report=False))
    return out, planted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hashes", type=int, default=10_000_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--singles", type=int, default=4000, help="single checks (reference)")
    ap.add_argument("--serve", nargs=2, metavar=("DB", "SOCKET"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), Path(args.serve[1]))
        return
    header(f"CheckBatch over a Unix socket, {args.hashes:,} listed PDQ hashes, radius 31",
           args.runs)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        database, socket = Path(tmp) / "node.db", Path(tmp) / "m.sock"
        started = time.perf_counter()
        codes = fill_replica(database, args.hashes, seed=1)
        row("replica filled", time.perf_counter() - started, "s")
        node = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_check_batch", "--serve", str(database),
             str(socket)], stdout=subprocess.PIPE, text=True, env={**os.environ},
        )  # fmt: skip
        try:
            assert node.stdout is not None
            row("index loaded (node process)", float(node.stdout.readline().split()[1]), "s")
            wait_until(socket.exists, 60, "the Matcher socket")
            run(f"unix:{socket}", codes, args)
        finally:
            node.kill()
            node.wait()


def run(address: str, codes: np.ndarray, args: argparse.Namespace) -> None:
    with MatcherClient(address, timeout=600) as client:
        rates = []
        for r in range(args.runs):
            asked, planted = queries(codes, args.batch, seed=100 + r)
            started = time.perf_counter()
            answers = list(client.check_batch(asked))
            rates.append(len(asked) / (time.perf_counter() - started))
            found = {i for i, a in enumerate(answers) if isinstance(a, CheckResult) and a.matches}
            if not planted <= found:
                raise SystemExit(f"run {r}: {len(planted - found)} planted near matches missed")
            print(f"#   run {r}: {rates[-1]:,.0f} hashes/s, {len(found)} matched "
                  f"({len(planted)} planted)")  # fmt: skip
        row(f"CheckBatch ({args.batch:,} per call), median", statistics.median(rates), "hashes/s")
        asked, _ = queries(codes, args.singles, seed=7)
        halves = [asked[0::2], asked[1::2]]

        def singles(part: list[CheckQuery]) -> None:
            for q in part:
                client.check(signals=q.signals, report=False)

        with ThreadPoolExecutor(2) as pool:
            started = time.perf_counter()
            list(pool.map(singles, halves))
        rate = len(asked) / (time.perf_counter() - started)
        row("single Check, 2 client threads (reference)", rate, "hashes/s")


if __name__ == "__main__":
    main()
