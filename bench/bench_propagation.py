"""Propagation: publish, time until every node has verified and applied the publication.

    python -m bench.bench_propagation [--nodes 3 10 50] [--rounds 20] [--hashes 100] [--witness]

Every node is a real ``hashlist node run`` process with its own SQLite file,
subscribed to a real hub process over mTLS on loopback (all nodes beyond the
three development partners present the ``facebook`` certificate). Times come
from the processes' own log lines (the hub's "published ... version V" and
each node's "verified and applied versions ..V"), same clock, millisecond
resolution, so nothing polls the nodes while they work.
Target (issue 3): p99 under 1 s at 50 nodes. With ``--witness`` each size is
also run with a witness process whose cosignature every node requires, to
show what a witness quorum costs (a checkpoint is applied only once the
witness has cosigned it and the hub has pushed the cosigned note).
"""

from __future__ import annotations

import argparse
import datetime
import re
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import machine
from hashlist.cli.demo import Federation, random_signals

LIST = "takeitdown"
_STAMP = r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z"
_HUB_LINE = re.compile(_STAMP + r" INFO hub \S+: published takeitdown versions \d+\.\.(\d+)")
_NODE_LINE = re.compile(
    _STAMP + r" INFO node/\S+ \S+: list takeitdown: verified and applied versions \d+\.\.(\d+)"
)


def _times(path: Path, pattern: re.Pattern[str]) -> dict[int, float]:
    out: dict[int, float] = {}
    for m in pattern.finditer(path.read_text()):
        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").timestamp()
        out.setdefault(int(m.group(2)), t)
    return out


def run(nodes: int, rounds: int, hashes: int, witness: bool) -> None:
    fed_dir = tempfile.TemporaryDirectory()
    with fed_dir as tmp, Federation(Path(tmp) / "fed", witness=witness) as fed:
        fed.start_hub()
        names = [f"node{i:02d}" for i in range(nodes)]
        with fed.operator() as op:
            op.create_list(LIST)
            op.grant(LIST, "facebook", new_partner=True)
            first = op.publish(LIST, random_signals(hashes)).version
            for name in names:
                fed.start_node(name, cert_as="facebook")
            fed.wait_all_at(tuple(names), LIST, first, timeout=300)
            versions = []  # the last version of each publication: one or more leaves
            for _ in range(rounds):
                versions.append(op.publish(LIST, random_signals(hashes)).version)
                fed.wait_all_at(tuple(names), LIST, versions[-1], timeout=60)
                time.sleep(0.2)
        fed.stop_all()
        published = _times(fed.workdir / "hub.log", _HUB_LINE)
        per_node = [_times(fed.workdir / f"{n}.log", _NODE_LINE) for n in names]
    lags, worst = [], []
    for version in versions:
        these = [node[version] - published[version] for node in per_node if version in node]
        lags.extend(these)
        worst.append(max(these))
    lags.sort()
    worst.sort()
    p50, p99 = lags[len(lags) // 2], lags[min(len(lags) - 1, int(len(lags) * 0.99))]
    all_p99 = worst[min(len(worst) - 1, int(len(worst) * 0.99))]
    last_p50 = statistics.median(worst)
    mode = "witness quorum 1" if witness else "no witness"
    print(f"{nodes:>3} nodes, {mode}, {rounds} rounds of {hashes}-hash deltas: "
          f"per node p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms; "
          f"all nodes done p50 {last_p50 * 1000:.0f} ms, p99 {all_p99 * 1000:.0f} ms")  # fmt: skip


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
