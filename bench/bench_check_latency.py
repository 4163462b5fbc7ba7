"""Upload checks while the node syncs: the Matcher never waits behind the network.

A real hub and a real node process (``hashlist node run``) on loopback. This
process plays the platform's upload service: one thread sends ``check``
requests to the node's Matcher over its Unix socket without pause, each with
a listed hash and a new content id, so every check also writes a report to
the node's outbox. Latency is recorded in three windows, in the same run:

* idle: the node has nothing to sync (the reference);
* bootstrap: the node, which already lists the hash being checked, is several
  versions behind (``--hashes`` more, published at once) and catches up from
  a snapshot, verified into a spill file, then replayed in one transaction;
* apply: the synced node verifying and applying one ``--delta``-hash delta.

Target (issue "never block"): p99 under 100 ms and no error in each window.

    python -m bench.bench_check_latency [--hashes 1000000] [--delta 200000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

from bench.common import header, row
from hashlist.cli.demo import Federation, random_signals, wait_until
from hashlist.errors import HashlistError
from node.service import MatcherClient

LIST = "takeitdown"


class Checker:
    """Checks without pause from its own thread; ``window`` collects what one phase saw."""

    def __init__(self, address: str, listed: str) -> None:
        self.client = MatcherClient(address, timeout=10, max_message_bytes=1 << 20)
        self.listed = listed
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            start = time.perf_counter()
            try:  # (no match until the node has bootstrapped: not an error)
                self.client.check(signals=[self.listed], content_id=f"upload-{n}")
            except HashlistError as e:
                self.errors.append(str(e))
            self.latencies.append(time.perf_counter() - start)

    def window(self) -> tuple[list[float], list[str]]:
        got, self.latencies = self.latencies, []
        errors, self.errors = self.errors, []
        return got, errors


def report(label: str, latencies: list[float], errors: list[str], seconds: float) -> None:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0
    row(f"{label}: checks", len(latencies), "", f"in {seconds:.1f} s, {len(errors)} errors")
    row(f"{label}: p50", statistics.median(ordered) * 1000 if ordered else 0, "ms")
    row(f"{label}: p99", p99 * 1000, "ms")
    row(f"{label}: max", (ordered[-1] if ordered else 0) * 1000, "ms")
    for e in errors[:3]:
        print(f"#   error: {e}")


def _log(fed: Federation) -> str:
    return (fed.workdir / "facebook.log").read_text()


def _logged(fed: Federation, texts: tuple[str, ...]) -> bool:
    log = _log(fed)
    return any(t in log for t in texts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hashes", type=int, default=1_000_000)
    ap.add_argument("--delta", type=int, default=200_000)
    ap.add_argument("--idle-seconds", type=float, default=5.0)
    args = ap.parse_args()
    header(f"check latency with report writes, node syncing {args.hashes:,} + {args.delta:,}", 1)
    with tempfile.TemporaryDirectory() as tmp, Federation(Path(tmp) / "fed") as fed:
        fed.start_hub()
        listed = random_signals(1000, "md5")
        with fed.operator() as op:
            op.create_list(LIST)
            op.grant(LIST, "facebook", new_partner=True)
            op.publish(LIST, listed)
        # Any step more than one version behind is caught up from a snapshot.
        fed.start_node("facebook", snapshot_threshold_leaves=1)
        fed.wait_all_at(("facebook",), LIST, 1, timeout=120)
        socket = fed.workdir / "facebook.sock"
        wait_until(socket.exists, 120, "the node's Matcher")
        checker = Checker(f"unix:{socket}", listed[0])
        checker.thread.start()
        time.sleep(args.idle_seconds)
        report("idle (reference)", *checker.window(), args.idle_seconds)
        for label, hashes in (("bootstrap", args.hashes), ("apply", args.delta)):
            with fed.operator() as op:
                started = time.perf_counter()
                result = op.publish(LIST, random_signals(hashes, "md5"))
            fed.wait_all_at(("facebook",), LIST, result.version, timeout=600)
            elapsed = time.perf_counter() - started
            snapshot, leaves = f"snapshot at version {result.version} ", f"..{result.version}, "
            wait_until(partial(_logged, fed, (snapshot, leaves)), 10, "the node's log line")
            kind = "from a snapshot" if snapshot in _log(fed) else "leaves"
            print(f"# {label}: {hashes:,} hashes as versions {result.first_version}.."
                  f"{result.version} ({kind})")  # fmt: skip
            report(label, *checker.window(), elapsed)
        checker.stop.set()
        checker.thread.join()


if __name__ == "__main__":
    main()
