"""The node's metrics and readiness, served by ``hashlist.probes``.

Two kinds of series (``docs/metrics.md`` says what each means):

- counters and histograms the node's parts update as things happen
  (``NodeMetrics``: refused checkpoints and deltas, step and check durations,
  matches);
- gauges read from the replica when Prometheus scrapes (``ReplicaCollector``:
  versions, hash counts, checkpoint ages, lag, alarms, the outbox backlog),
  so a scrape says what the replica says, never a copy that could drift.

Readiness: every followed list has a verified checkpoint that is fresh, no
alarm, is not halted and not refused by the hub (``StatusRow.ready``); the
hub being unreachable for a while does not make a node unready while its
checkpoints are still fresh.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hashlist.clock import Clock
from hashlist.probes import daemon_registry
from hashlist.trustroot import TrustRoot
from node.config import NodeConfig
from node.status import StatusRow, status_row
from node.store import SqliteReplicaReader

_STEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_CHECK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class NodeMetrics:
    """What the node's parts count as they work. Each node has its own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or daemon_registry()
        r = self.registry
        self.verification_failures = Counter(
            "hashlist_node_verification_failures",
            "Checkpoints, deltas and snapshots the node refused to apply, by list and error",
            ["list", "error"], registry=r,
        )  # fmt: skip
        self.apply_seconds = Histogram(
            "hashlist_node_apply_seconds",
            "Time to download, verify and apply one step (deltas or a snapshot)",
            buckets=_STEP_BUCKETS, registry=r,
        )  # fmt: skip
        self.check_seconds = Histogram(
            "hashlist_node_check_seconds",
            "Time of one Matcher check, decoding and hashing included",
            buckets=_CHECK_BUCKETS, registry=r,
        )  # fmt: skip
        self.matches = Counter(
            "hashlist_node_matches",
            "Listed hashes that checks matched, by list and signal kind",
            ["list", "kind"], registry=r,
        )  # fmt: skip
        self.leaves_read = Counter(
            "hashlist_node_leaves_read",
            "Leaves read to verify, by list and source (tiles, or the hub when the tiles "
            "did not serve them); counted with tiles_url set",
            ["list", "source"], registry=r,
        )  # fmt: skip
        self.tiles_errors = Counter(
            "hashlist_node_tiles_errors",
            "Reads of the tiles that failed (the hub was asked instead), by list and error",
            ["list", "error"], registry=r,
        )  # fmt: skip
        self.tiles_skip_seconds = Gauge(
            "hashlist_node_tiles_skip_seconds",
            "How long the tiles are skipped after they last failed out of reach (the hub is "
            "asked meanwhile): 0 while they are read, else 30 s doubling up to 10 minutes",
            registry=r,
        )  # fmt: skip
        self.catch_ups = Counter(
            "hashlist_node_catch_ups",
            "Lists bootstrapped or caught up from far behind, by list and how: a snapshot "
            "from the hub, or a replay of the log's leaves",
            ["list", "source"], registry=r,
        )  # fmt: skip
        self.checks = Counter(
            "hashlist_node_checks",
            "Checks answered (single, batch items and JSON alike), by outcome",
            ["outcome"], registry=r,
        )  # fmt: skip


class ReplicaCollector(Collector):
    """Gauges read from the replica at scrape time, through its own read-only
    connection (never the sync loop's)."""

    def __init__(
        self,
        config: NodeConfig,
        *,
        trust: Callable[[], TrustRoot],
        clock: Clock,
        backlog: Callable[[], int],
    ) -> None:
        self.node, self.database, self.lists = config.name, config.database, config.lists
        self.trust, self.clock, self.backlog = trust, clock, backlog
        self._lock = threading.Lock()
        self._replica: SqliteReplicaReader | None = None
        self._counts: dict[str, tuple[int, int]] = {}  # list -> (version, hashes)

    def rows(self) -> list[StatusRow]:
        with self._lock:
            if self._replica is None:
                self._replica = SqliteReplicaReader(self.database)
            replica, now, trust = self._replica, self.clock.now(), self.trust()
            return [
                status_row(self.node, replica.record(lst), self._count(replica, lst), trust, now)
                for lst in self.lists
            ]

    def _count(self, replica: SqliteReplicaReader, list_id: str) -> int:
        # Counting rows costs a scan: once per version is enough.
        version = replica.state(list_id).size
        cached = self._counts.get(list_id)
        if cached is None or cached[0] != version:
            cached = (version, replica.count(list_id))
            self._counts[list_id] = cached
        return cached[1]

    def readiness(self) -> str:
        for row in self.rows():
            if not row.ready:
                return f"list {row.list_id}: {row.problems[0]}"
        return ""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        rows = self.rows()
        max_age = self.trust().max_checkpoint_age_seconds
        gauges = {
            "version": ("Version of the list's verified state in the replica", "list_version"),
            "hashes": ("Hashes listed in the replica's verified state", "list_hashes"),
            "age": ("Age of the newest verified cosignature; -1 before the first",
                    "checkpoint_age_seconds"),
            "max_age": ("Age past which the trust root calls a checkpoint stale",
                        "checkpoint_max_age_seconds"),
            "lag": ("Versions the hub announced beyond the verified state", "lag_versions"),
            "alarm": ("1 while the list has an alarm or is halted", "alarm"),
            "ready": ("1 when the list is verified, fresh, without alarm and not refused",
                      "list_ready"),
        }  # fmt: skip
        families = {
            key: GaugeMetricFamily(f"hashlist_node_{name}", text, labels=["list"])
            for key, (text, name) in gauges.items()
        }
        for row in rows:
            values = {"version": row.version, "hashes": row.hashes, "age": row.cosignature_age,
                      "max_age": max_age,
                      "lag": row.lag, "alarm": int(bool(row.alarm) or row.halted),
                      "ready": int(row.ready)}  # fmt: skip
            for key, value in values.items():
                families[key].add_metric([row.list_id], value)
        yield from families.values()
        yield GaugeMetricFamily(
            "hashlist_node_outbox_pending",
            "Reports and verdicts not yet delivered to the hub (refused ones excluded)",
            value=self.backlog(),
        )

    def close(self) -> None:
        with self._lock:
            if self._replica is not None:
                self._replica.close()
                self._replica = None
