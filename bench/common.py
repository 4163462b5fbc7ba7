"""Timing helpers shared by the benchmarks: medians, N, and the machine."""

from __future__ import annotations

import os
import platform
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
