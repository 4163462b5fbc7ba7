"""Timing helpers shared by the benchmarks: medians, N, and the machine."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable


def machine() -> str:
    cpu = "unknown cpu"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    system = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"
    return f"{system}, {cpu}, Python {platform.python_version()}"


def median_seconds(fn: Callable[[], object], runs: int) -> tuple[float, list[float]]:
    """Run ``fn`` ``runs`` times; return the median and all timings in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def header(title: str, runs: int) -> None:
    print(f"# {title}")
    print(f"# machine: {machine()}")
    print(f"# median of N={runs} runs")


def row(label: str, value: float, unit: str, note: str = "") -> None:
    print(f"{label:<58} {value:>14,.0f} {unit}{'  ' + note if note else ''}")
