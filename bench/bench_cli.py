"""Start-up of the ``hashlist`` command: ``hashlist --help`` wall time (target under 0.3 s).

Each run is a fresh process, as a person typing the command gets. The
reference in the same run is ``python -c pass`` (the interpreter alone).

    python -m bench.bench_cli --runs 20
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from bench.common import header, row


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    header("hashlist --help start-up", args.runs)
    for label, argv in (
        ("python -c pass (reference)", [sys.executable, "-c", "pass"]),
        ("hashlist --help", [sys.executable, "-m", "hashlist.cli", "--help"]),
        ("hashlist hub publish --help", [sys.executable, "-m", "hashlist.cli", "hub", "publish",
                                         "--help"]),
    ):  # fmt: skip
        times = [_time(argv) for _ in range(args.runs)]
        row(label, statistics.median(times) * 1000, "ms", f"(p90 {_p90(times) * 1000:.0f} ms)")


def _p90(times: list[float]) -> float:
    return sorted(times)[int(len(times) * 0.9) - 1]


if __name__ == "__main__":
    main()
