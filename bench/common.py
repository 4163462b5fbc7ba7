"""Timing helpers shared by the benchmarks: medians, N, the machine, percentiles, times
read from the daemons' logs and a process's memory and CPU time."""

from __future__ import annotations

import datetime
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hashlist.client import ClientTLS
from hashlist.devpki import write_dev_pki
from hashlist.note import COSIGNATURE_V1, ED25519, Signer
from hashlist.trustroot import TrustRoot
from server.config import HubConfig


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


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


_STAMP = r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z"
HUB_PUBLISHED = re.compile(_STAMP + r" INFO hub \S+: published (\S+) versions \d+\.\.(\d+)")
NODE_APPLIED = re.compile(
    _STAMP + r" INFO node/\S+ \S+: list (\S+): verified and applied versions \d+\.\.(\d+)"
)


def logged_times(path: Path, pattern: re.Pattern[str], list_id: str) -> dict[int, float]:
    """When (unix seconds, from the log line's UTC stamp, millisecond resolution) each
    version of ``list_id`` was first logged in ``path`` by a line ``pattern`` matches
    (``HUB_PUBLISHED``, ``NODE_APPLIED``)."""
    out: dict[int, float] = {}
    for m in pattern.finditer(path.read_text(errors="replace")):
        if m.group(2) == list_id:
            stamp = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
            out.setdefault(int(m.group(3)), stamp.replace(tzinfo=datetime.UTC).timestamp())
    return out


def process_usage(pid: int) -> tuple[float, float, float]:
    """(resident MiB now, peak resident MiB, CPU seconds used so far) of process ``pid``,
    from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    kib = {k: int(v.split()[0]) for k, v in (ln.split(":", 1) for ln in status.splitlines())
           if k in ("VmRSS", "VmHWM")}  # fmt: skip
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return kib["VmRSS"] / 1024, kib["VmHWM"] / 1024, ticks / os.sysconf("SC_CLK_TCK")


def hub_settings(workdir: Path, **settings: int | float | str) -> None:
    """Add ``settings`` to the hub configuration a ``Federation`` in ``workdir`` wrote
    (before ``start_hub``)."""
    with (workdir / "hub.toml").open("a") as f:
        for name, value in settings.items():
            f.write(f"{name} = {value!r}\n".replace("'", '"'))


def header(title: str, runs: int) -> None:
    print(f"# {title}")
    print(f"# machine: {machine()}")
    print(f"# median of N={runs} runs")


def row(label: str, value: float, unit: str, note: str = "") -> None:
    print(f"{label:<58} {value:>14,.0f} {unit}{'  ' + note if note else ''}")


@dataclass(frozen=True)
class DevHub:
    """A throwaway hub setup: dev PKI, fresh keys, config for port 0, trust root."""

    config: HubConfig
    trust: TrustRoot
    pki: Path

    def tls(self, who: str) -> ClientTLS:
        return ClientTLS(self.pki / "ca.pem", self.pki / f"{who}.pem", self.pki / f"{who}.key")


def dev_hub(folder: Path) -> DevHub:
    pki = folder / "pki"
    write_dev_pki(pki)
    log_key = Signer.generate("hub.example/log", ED25519)
    ts_key = Signer.generate("hub.example/timestamp", COSIGNATURE_V1)
    (folder / "log.key").write_text(str(log_key))
    (folder / "ts.key").write_text(str(ts_key))
    config = HubConfig(
        name="hub.example", database=folder / "hub.db", log_key=folder / "log.key",
        timestamp_key=folder / "ts.key", tls_cert=pki / "hub.pem", tls_key=pki / "hub.key",
        client_ca=pki / "ca.pem", listen="127.0.0.1:0",
    )  # fmt: skip
    trust = TrustRoot(1, "hub.example", (log_key.verifier(),), ts_key.verifier())
    return DevHub(config, trust, pki)
