"""Bootstrap: an empty node to a verified replica, and publish throughput at the hub.

    python -m bench.bench_bootstrap [--hashes 1000000] [--delta 100000] [--runs 3]

A real hub process is filled with ``--hashes`` random PDQ hashes in
``--delta``-hash publications (timed: publish throughput). Then an empty node
(the real sync code, in this process, over real gRPC/mTLS) bootstraps from
the hub's snapshot: streamed, every hash checked canonical, LtHash16
recomputed and compared with the signed history, rows written in one
transaction. Reported beside the floor measured in the same run: a raw
``executemany`` of the same rows into an empty SQLite file with the node's
schema. Targets (issue 3): >= 200,000 hashes/s end to end.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import machine, row
from hashlist.cli.demo import Federation, random_signals
from hashlist.client import ClientTLS, HubClient
from hashlist.clock import SystemClock
from node.config import load_node_config
from node.daemon import effective_trust
from node.store import SqliteNodeStore
from node.sync import Syncer

LIST = "takeitdown"


def bootstrap_once(fed: Federation, folder: Path) -> float:
    config = load_node_config(fed.node_config("facebook", (LIST,)))
    db = folder / "boot.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = SqliteNodeStore(db)
    client = HubClient(
        config.hub, ClientTLS(config.ca, config.tls_cert, config.tls_key), timeout=60
    )
    syncer = Syncer(config, effective_trust(config), store, client, SystemClock())
    start = time.perf_counter()
    if not syncer.sync(LIST):
        raise RuntimeError(store.record(LIST).alarm)
    took = time.perf_counter() - start
    client.close()
    store.close()
    return took


def floor_once(signals: list[str], folder: Path) -> float:
    db = folder / "floor.db"
    db.unlink(missing_ok=True)
    SqliteNodeStore(db).close()  # same schema and pragmas as a node
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    # Sorted, as the snapshot streams them: sequential B-tree inserts, the fast case.
    rows = sorted(signals)
    start = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO members VALUES(?,?,?)", ((LIST, s, 1) for s in rows))
    conn.execute("COMMIT")
    took = time.perf_counter() - start
    conn.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--delta", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    n = args.hashes
    print(f"# bootstrap and publish, {n:,} PDQ hashes in {args.delta:,}-hash deltas")
    print(f"# machine: {machine()}")
    print(f"# median of N={args.runs} runs (publish: median over the {n // args.delta} deltas)")
    with tempfile.TemporaryDirectory() as tmp, Federation(Path(tmp) / "fed") as fed:
        fed.start_hub()
        all_signals: list[str] = []
        publish_times = []
        with fed.operator() as op:
            op.create_list(LIST)
            op.grant(LIST, "facebook", new_partner=True)
            for _ in range(n // args.delta):
                batch = random_signals(args.delta)
                all_signals += batch
                start = time.perf_counter()
                op.publish(LIST, batch)
                publish_times.append(time.perf_counter() - start)
        t = statistics.median(publish_times)
        row(
            f"publish at the hub ({args.delta:,}-hash deltas, operator round trip)",
            args.delta / t,
            "hashes/s",
            f"({t:.2f} s each)",
        )
        boots = [bootstrap_once(fed, Path(tmp)) for _ in range(args.runs)]
        floors = [floor_once(all_signals, Path(tmp)) for _ in range(args.runs)]
    t = statistics.median(boots)
    row(f"bootstrap: empty node -> verified {n:,}-hash replica", n / t, "hashes/s", f"({t:.1f} s)")
    t = statistics.median(floors)
    row("floor: raw executemany of the same rows into SQLite", n / t, "hashes/s", f"({t:.1f} s)")


if __name__ == "__main__":
    main()
