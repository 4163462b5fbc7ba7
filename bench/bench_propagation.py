"""Propagation: publish, time until every node has verified and applied the publication.

    python -m bench.bench_propagation [--nodes 3 10 50] [--rounds 20] [--hashes 100] [--witness]

Every node is a real ``hashlist node run`` process with its own SQLite file,
subscribed to a real hub process over mTLS on loopback (every node presents the
``facebook`` certificate; the hub lets that identity hold two streams per node). Times come
from the processes' own log lines (the hub's "published ... version V" and
each node's "verified and applied versions ..V"), same clock, millisecond
resolution, so nothing polls the nodes while they work.
Target (issue 3): p99 under 1 s at 50 nodes, in the steady state. The first
publication after start is reported apart, as the cold start: nodes started
together (50 processes on a small machine) are still rebuilding their index and
loading their kernels when it arrives. With ``--witness`` each size is
also run with a witness process whose cosignature every node requires, to
show what a witness quorum costs (a checkpoint is applied only once the
witness has cosigned it and the hub has pushed the cosigned note).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import (
    HUB_PUBLISHED,
    NODE_APPLIED,
    hub_settings,
    logged_times,
    machine,
    percentile,
)
from hashlist.cli.demo import Federation, random_signals

LIST = "takeitdown"


def run(nodes: int, rounds: int, hashes: int, witness: bool) -> None:
    fed_dir = tempfile.TemporaryDirectory()
    with fed_dir as tmp, Federation(Path(tmp) / "fed", witness=witness) as fed:
        # Every node presents one certificate: let that identity hold what each node
        # holds at once, a subscription and a leaf download (the default cap of 8 would
        # refuse the rest; a node refused its subscription polls, one refused its leaves
        # waits for the next announcement).
        hub_settings(fed.workdir, max_streams_per_identity=2 * nodes + 8)
        fed.start_hub()
        names = [f"node{i:02d}" for i in range(nodes)]
        with fed.operator() as op:
            op.create_list(LIST)
            op.grant(LIST, "facebook", new_partner=True)
            first = op.publish(LIST, random_signals(hashes)).version
            for name in names:
                fed.start_node(name, cert_as="facebook")
            fed.wait_all_at(tuple(names), LIST, first, timeout=300)
            # The first publication after every node holds the first one is the cold
            # start: nodes started together may still be finishing start-up (index
            # rebuild, kernel loading). The rounds after it are the steady state.
            versions = []  # the last version of each publication
            for _ in range(rounds + 1):
                versions.append(op.publish(LIST, random_signals(hashes)).version)
                fed.wait_all_at(tuple(names), LIST, versions[-1], timeout=120)
                time.sleep(0.2)
        fed.stop_all()
        published = logged_times(fed.workdir / "hub.log", HUB_PUBLISHED, LIST)
        per_node = [logged_times(fed.workdir / f"{n}.log", NODE_APPLIED, LIST) for n in names]

    def lags(version: int) -> list[float]:
        return [node[version] - published[version] for node in per_node if version in node]

    cold = lags(versions[0])
    steady = [lag for v in versions[1:] for lag in lags(v)]
    worst = [max(lags(v)) for v in versions[1:]]
    mode = "witness quorum 1" if witness else "no witness"
    print(f"{nodes:>3} nodes, {mode}, {hashes}-hash deltas: cold start (the first "
          f"publication after start): per node p50 {statistics.median(cold) * 1000:.0f} ms, "
          f"all nodes done {max(cold) * 1000:.0f} ms; steady state ({rounds} rounds): per node "
          f"p50 {percentile(steady, 0.5) * 1000:.0f} ms, p99 {percentile(steady, 0.99) * 1000:.0f}"
          f" ms; all nodes done p50 {statistics.median(worst) * 1000:.0f} ms, "
          f"p99 {percentile(worst, 0.99) * 1000:.0f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, nargs="*", default=[3, 10, 50])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--hashes", type=int, default=100)
    parser.add_argument("--witness", action="store_true", help="also run with a witness quorum")
    args = parser.parse_args()
    print("# propagation: hub publish -> node verified and applied (real processes, mTLS)")
    print(f"# machine: {machine()}")
    print("# reference: Meta's Hasher-Matcher-Actioner aims to apply new hashes within 10 minutes")
    for n in args.nodes:
        for witness in (False, True) if args.witness else (False,):
            run(n, args.rounds, args.hashes, witness)


if __name__ == "__main__":
    main()
