"""The fan-out benchmark runs (briefly): real hub and node processes, simulated
subscribers verifying every note, one partner refused past its cap. Its figures are
not asserted (the machine decides them), only that it measures and reports them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_fanout_benchmark_runs_quick() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.bench_fanout", "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "# machine: " in out
    assert re.search(r"200 subscribers, median of 1 run\(s\): notified p50 [\d,]+ ms, "
                     r"p99 [\d,]+ ms; nodes applied p50 [\d,]+ ms, p99 [\d,]+ ms; "
                     r"hub RSS [\d,]+ MiB", out), out  # fmt: skip
    assert "the flooder opened 40 streams: 8 served, 32 refused (0 failed otherwise)" in out
    assert "already holds 8 open streams, the most one identity may" in out
    assert re.search(r"during the flood: 40 other subscribers notified p50 [\d,]+ ms", out), out
    assert re.search(r"the others, median of 1 run\(s\): before the flood notified p50", out), out
