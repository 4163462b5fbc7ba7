"""The intake's metrics and readiness, served by ``hashlist.probes`` on ``metrics_listen``.

Counted: every answer, by route and HTTP status. Ready: the hub answered the
intake's last call to it (a refusal is an answer; a timeout or a closed port
is not), so a load balancer stops sending people to an intake that cannot
open their case.
"""

from __future__ import annotations

import threading
import time

from prometheus_client import Counter

from hashlist.probes import daemon_registry


class IntakeMetrics:
    def __init__(self) -> None:
        self.registry = daemon_registry()
        self.answers = Counter(
            "hashlist_intake_answers",
            "Requests answered, by route and HTTP status (no address, no agent)",
            ["route", "status"], registry=self.registry,
        )  # fmt: skip
        self._lock = threading.Lock()
        self._hub_down_since = 0.0

    def observe(self, route: str, status: int) -> None:
        self.answers.labels(route, str(status)).inc()

    def hub_answered(self, answered: bool) -> None:
        with self._lock:
            if answered:
                self._hub_down_since = 0.0
            elif not self._hub_down_since:
                self._hub_down_since = time.monotonic()

    def readiness(self) -> str:
        with self._lock:
            down = self._hub_down_since
        if down:
            return f"the hub has not answered for {time.monotonic() - down:.0f} s"
        return ""
