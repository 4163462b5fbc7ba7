"""Auditing: replay of a whole list beside merely downloading it; verify-replica on 1M rows.

A real hub (in-process, mTLS on loopback) gets ``--deltas`` publications of
``--per-delta`` hashes (each one or more leaves of at most 65,535 bytes). Then,
median of N runs each: streaming every leaf
(download only), the same stream through ``replay_history`` (every leaf
hash, root and state digest recomputed), and ``check_replica`` over a node
replica bootstrapped from the hub (LtHash of every row + the signed last leaf).

    python -m bench.bench_audit --deltas 1000 --per-delta 1000 --runs 3
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.common import dev_hub, header, median_seconds, row
from hashlist.audit import check_replica, replay_history
from hashlist.client import HubClient
from hashlist.clock import SystemClock
from node.config import NodeConfig
from node.store import SqliteNodeStore
from node.sync import Syncer
from server.serve import running_hub

LIST = "takeitdown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--deltas", type=int, default=1000)
    ap.add_argument("--per-delta", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    total = args.deltas * args.per_delta
    header(f"audit of a list of {args.deltas:,} publications, {total:,} hashes", args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dev = dev_hub(folder)
        pki, trust, tls = dev.pki, dev.trust, dev.tls
        with running_hub(dev.config) as hub:
            address = f"127.0.0.1:{hub.port}"

            with HubClient(address, tls("operator"), timeout=120) as op:
                op.create_list(LIST)
                op.grant(LIST, "facebook", new_partner=True)
                t = time.perf_counter()
                size = 0
                for _ in range(args.deltas):
                    signals = [f"pdq:{os.urandom(32).hex()}" for _ in range(args.per_delta)]
                    size = op.publish(LIST, signals).version
                print(f"# published in {time.perf_counter() - t:.0f} s, {size:,} leaves")
            with HubClient(address, tls("auditor"), timeout=120) as auditor:
                note = auditor.checkpoint(LIST)

                def leaves() -> list[bytes]:
                    return [x for _, b in auditor.leaves(LIST, 0, size) for x in b]

                download, _ = median_seconds(leaves, args.runs)
                replay, _ = median_seconds(lambda: replay_history(
                    LIST, note, (x for _, b in auditor.leaves(LIST, 0, size) for x in b),
                    trust=trust, now=int(time.time())), args.runs)  # fmt: skip
                row("download every leaf (stream only)", download * 1e3, "ms")
                row("audit replay (download + recompute + verify)", replay * 1e3, "ms",
                    f"({replay / download:.1f}x the download)")  # fmt: skip
            node_cfg = NodeConfig(
                name="facebook", hub=address, trust_root=folder / "unused.toml", lists=(LIST,),
                database=folder / "node.db", tls_cert=pki / "facebook.pem",
                tls_key=pki / "facebook.key", ca=pki / "ca.pem",
            )  # fmt: skip
            with HubClient(address, tls("facebook"), timeout=120) as client:
                store = SqliteNodeStore(node_cfg.database)
                Syncer(node_cfg, trust, store, client, SystemClock()).sync(LIST)
                state = store.state(LIST)
                last = [x for _, b in client.leaves(LIST, state.size - 1, state.size) for x in b]
                proof = client.inclusion_proof(LIST, state.size - 1, state.size)

                def verify() -> object:
                    return check_replica(state, store.signals(LIST), trust=trust, last_leaf=last[0],
                                         last_leaf_proof=proof)  # fmt: skip

                took, _ = median_seconds(verify, args.runs)
                row(f"verify-replica on {store.count(LIST):,} rows", took * 1e3, "ms")
                store.close()


if __name__ == "__main__":
    main()
