"""The hub's metrics and readiness, served by ``hashlist.probes``.

``HubMetrics`` holds what the servicers count as calls happen (publication
durations, reports accepted, calls ended with an error) and reads the rest
when Prometheus scrapes: each list's version, hashes, subscribers and the
age of its served cosignature, straight from the store and the broadcaster.
``docs/metrics.md`` says what each series means.

Ready: the database answers, and every list's served checkpoint was
re-cosigned within the allowed time (twice the interval, plus a margin), so
nodes following it do not go stale. The keys were loaded at start, or the
hub would not be running.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hashlist.clock import Clock
from hashlist.errors import StorageError
from hashlist.probes import daemon_registry

if TYPE_CHECKING:
    from server.hub import Hub

_PUBLISH_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
RECOSIGN_MARGIN_SECONDS = 30


class HubMetrics(Collector):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or daemon_registry()
        r = self.registry
        self.publish_seconds = Histogram(
            "hashlist_hub_publish_seconds",
            "Time of one publication, from the request to its commit and announcement",
            buckets=_PUBLISH_BUCKETS, registry=r,
        )  # fmt: skip
        self.reports = Counter(
            "hashlist_hub_reports",
            "Match reports accepted, by list and partner (a report resent counts again)",
            ["list", "partner"], registry=r,
        )  # fmt: skip
        self.rpc_error_count = Counter(
            "hashlist_hub_rpc_errors",
            "Calls the hub ended with an error, by method and gRPC status code",
            ["method", "code"], registry=r,
        )  # fmt: skip
        self.cases = Counter(
            "hashlist_hub_cases",
            "Victims' cases by event: opened, listed, rejected, withdrawn, wrong_pin",
            ["event"], registry=r,
        )  # fmt: skip
        self._hub: Hub | None = None
        self._clock: Clock | None = None
        self._max_age = 0

    def rpc_errors(self, method: str, code: str) -> None:
        self.rpc_error_count.labels(method, code).inc()

    def watch(self, hub: Hub, clock: Clock, recosign_interval_seconds: float) -> None:
        """Read ``hub``'s lists at every scrape."""
        self._hub, self._clock = hub, clock
        self._max_age = int(2 * recosign_interval_seconds) + RECOSIGN_MARGIN_SECONDS
        self.registry.register(self)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self._hub is None or self._clock is None:
            return
        families = {
            "version": GaugeMetricFamily(
                "hashlist_hub_list_version", "The list's newest version", labels=["list"]),
            "hashes": GaugeMetricFamily(
                "hashlist_hub_list_hashes", "Hashes on the list now", labels=["list"]),
            "subscribers": GaugeMetricFamily(
                "hashlist_hub_subscribers", "Open subscription streams", labels=["list"]),
            "age": GaugeMetricFamily(
                "hashlist_hub_checkpoint_age_seconds",
                "Age of the served checkpoint's timestamp cosignature", labels=["list"]),
            "tiles": GaugeMetricFamily(
                "hashlist_hub_tiles_version",
                "The list's version in tiles_dir's checkpoint (with tiles_dir set)",
                labels=["list"]),
        }  # fmt: skip
        tiles = self._hub.tiles
        subscribers = self._hub.broadcaster.subscribers()
        now = self._clock.now()
        for row in self._hub.store.lists():
            families["version"].add_metric([row.list_id], row.size)
            families["hashes"].add_metric([row.list_id], row.hashes)
            families["subscribers"].add_metric([row.list_id], subscribers.get(row.list_id, 0))
            families["age"].add_metric([row.list_id], now - row.cosigned_at)
            if tiles is not None:
                families["tiles"].add_metric([row.list_id], tiles.written(row.list_id))
        yield from families.values()

    def readiness(self) -> str:
        if self._hub is None or self._clock is None:
            return "starting"
        try:
            rows = self._hub.store.lists()
        except StorageError as e:
            return f"the database does not answer: {e}"
        now = self._clock.now()
        for row in rows:
            if (age := now - row.cosigned_at) > self._max_age:
                return (f"list {row.list_id}: served checkpoint re-cosigned {age} s ago, "
                        f"over {self._max_age} s")  # fmt: skip
        return ""
