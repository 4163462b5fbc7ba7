"""Reports: delivery rate to the hub, and the backlog drain after an outage.

An outbox is filled with ``--backlog`` match reports while no hub is
reachable (what a node accumulates during a one-hour outage), then a real
hub comes up (in-process, mTLS on loopback) and an ``OutboxSender`` drains
the backlog in batches. Prints the drain time and reports per second
(median of N runs, each with fresh databases), and checks the hub recorded
every report exactly once.

    python -m bench.bench_reports --backlog 100000 --runs 3
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import dev_hub, header, row
from hashlist.client import HubClient
from hashlist.clock import SystemClock
from hashlist.model import Report
from node.outbox import Outbox, OutboxSender, new_id
from server.serve import running_hub

LIST = "takeitdown"


def one_run(folder: Path, backlog: int, batch: int) -> tuple[float, float]:
    dev = dev_hub(folder)
    outbox = Outbox(folder / "node.outbox.db")
    now = int(time.time())
    fill = time.perf_counter()
    for start in range(0, backlog, 10_000):
        outbox.add_reports(
            [Report(new_id(), LIST, f"pdq:{i + 1:064x}", 3, 1, "", now)
             for i in range(start, min(backlog, start + 10_000))], now,
        )  # fmt: skip
    queued = time.perf_counter() - fill
    tls = dev.tls
    # Delivery as fast as it goes: the hub's per-partner rate limit is lifted here.
    unlimited = dataclasses.replace(dev.config, max_reports_per_second=1e9, report_burst=10**9)
    with running_hub(unlimited) as hub:
        address = f"127.0.0.1:{hub.port}"
        with HubClient(address, tls("operator")) as op, HubClient(address, tls("facebook")) as c:
            op.create_list(LIST)
            op.grant(LIST, "facebook", new_partner=True)
            op.publish(LIST, [f"pdq:{i + 1:064x}" for i in range(backlog)])  # what is reported
            sender = OutboxSender(outbox, c, SystemClock(), batch=batch)
            began = time.perf_counter()
            while sender.drain_once():
                pass
            drained = time.perf_counter() - began
            recorded = sum(n for h in op.matches(LIST) for _, n in h.partners)
    assert outbox.backlog() == 0
    assert recorded == backlog, (recorded, backlog)
    outbox.close()
    return drained, queued


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backlog", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    header(f"draining {args.backlog:,} queued reports to a hub, batches of {args.batch}", args.runs)
    drains, fills = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            drained, queued = one_run(Path(tmp), args.backlog, args.batch)
            drains.append(drained)
            fills.append(queued)
    drain = statistics.median(drains)
    row("backlog drain time", drain, "s", f"({', '.join(f'{d:.1f}' for d in drains)})")
    row("reports delivered per second", args.backlog / drain, "reports/s")
    row("queueing at the node (outbox insert)", args.backlog / statistics.median(fills),
        "reports/s")  # fmt: skip
    print("# every report recorded exactly once at the hub (checked)")


if __name__ == "__main__":
    main()
