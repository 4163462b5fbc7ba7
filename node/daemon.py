"""Running a node: wiring config, trust root, store and hub client; status.

``run_node`` takes the database's lock (one node per database), builds the
near-match index from the replica, serves the local Matcher service, and
follows the configured lists until SIGTERM or SIGINT; with ``http_listen``
it serves the same Matcher as JSON (``node.rest``); with ``tiles_url`` it
reads checkpoints and leaves from the static tiles (``node.tiles_log``).
The sync loop, the outbox sender and the replica check run in their own threads; the main
thread waits for a signal and every ``_WATCH_SECONDS`` sets the Matcher's
gRPC health from the node's readiness (``node.metrics``), logging each
change (matches keep being served from the last verified state while not
ready). With ``metrics_listen`` the same readiness is ``/readyz``. The sync
loop never ends on its own; if it did, the node would stop with an error
rather than keep a Matcher in front of a replica nobody updates.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from grpc_health.v1.health import HealthServicer

from hashlist.client import ClientTLS, HubClient
from hashlist.clock import Clock, SystemClock
from hashlist.errors import HashlistError
from hashlist.probes import Readiness, serving_probes
from hashlist.rotation import walk
from hashlist.tiles_client import TilesClient
from hashlist.trustroot import TrustRoot, load_trust_root
from hashlist.video import VideoLimits
from node.config import NodeConfig, with_local_policy
from node.follow import Follower
from node.instance import NodeLock, OwnedSocket
from node.matcher import Matcher, MatchSettings, open_matcher
from node.metrics import NodeMetrics, ReplicaCollector
from node.mih import warm_up
from node.outbox import OutboxSender
from node.replica_check import run_checks
from node.rest import serving_rest
from node.service import matcher_health, running_matcher, set_matcher_health
from node.spill import remove_stale_spills
from node.store import ReplicaReader, SqliteNodeStore, SqliteReplicaReader
from node.sync import HubLog, Syncer
from node.tiles_log import TilesLog
from node.videos import VideoSettings

log = logging.getLogger(__name__)
_WATCH_SECONDS = 2.0
Closer = Callable[[], None]


def effective_trust(config: NodeConfig, store: ReplicaReader | None = None) -> TrustRoot:
    """The configured trust root, moved along the rotations the replica accepted earlier.

    The stored versions are verified again, in order, from the configured file:
    a tampered table cannot introduce a key. Expiry is checked when a version
    is first accepted, not here, so a node keeps starting while its operator
    sorts out an expired root.
    """
    trust = load_trust_root(config.trust_root)
    if store is not None:
        trust, _ = walk(trust, store.trust_root, now=None)
    return with_local_policy(trust, config)


def match_settings(config: NodeConfig) -> MatchSettings:
    return MatchSettings(
        pdq_radius=config.pdq_radius,
        phash_radius=config.phash_radius,
        pdq_min_quality=config.pdq_min_quality,
        max_image_pixels=config.max_image_pixels,
        max_concurrent_decodes=config.max_concurrent_decodes,
        video_limits=VideoLimits(
            seconds_per_hash=config.video_seconds_per_hash, max_seconds=config.max_video_seconds
        ),
        video=VideoSettings(
            target_match_percent=config.video_target_match_percent,
            query_match_percent=config.video_query_match_percent,
            per_list={k: (v[0], v[1]) for k, v in config.video_match_percent_by_list.items()},
        ),
    )


def run_node(config: NodeConfig, *, clock: Clock | None = None) -> None:
    with NodeLock(config.database):
        remove_stale_spills(config.database)  # left by a node killed mid-bootstrap
        _run(config, clock or SystemClock())


def _run(config: NodeConfig, clock: Clock) -> None:
    store = SqliteNodeStore(config.database)  # creates and migrates the replica
    matcher = _loaded_matcher(config, clock, store)
    trust = effective_trust(config, store)
    metrics = NodeMetrics()
    client, log_source, close_clients = _hub_log(config, metrics)
    syncer = Syncer(config, trust, store, log_source, clock)
    follower = Follower(syncer)
    sender = OutboxSender(matcher.outbox, client, clock, batch=config.report_batch)
    matcher.on_report = sender.wake.set
    syncer.metrics = matcher.metrics = metrics
    replica_gauges = ReplicaCollector(
        config, trust=lambda: syncer.trust, clock=clock, backlog=matcher.outbox.backlog
    )
    metrics.registry.register(replica_gauges)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        follower.shutdown()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker = threading.Thread(target=follower.run, name="sync")
    outbox = threading.Thread(target=sender.run, name="outbox")
    watch = SqliteReplicaReader(config.database)  # read-only; never inside the sync transaction
    checker = threading.Thread(
        target=run_checks,
        args=(watch, config.lists, follower.request_repair, config.replica_check_seconds,
              follower.stop),
        name="replica-check",
        daemon=True,
    )  # fmt: skip
    socket = OwnedSocket(config.matcher_address)
    health = matcher_health()
    try:
        with (
            running_matcher(
                matcher,
                config.matcher_address,
                max_message_bytes=config.max_check_bytes + 4096,
                health=health,
                tls=config.matcher_tls,
                tls_address=config.matcher_tls_address,
                max_connections=config.max_matcher_connections,
            ) as addresses,
            serving_probes(config.metrics_listen, metrics.registry, replica_gauges.readiness),
            serving_rest(
                matcher,
                config.http_listen,
                tls=config.matcher_tls,
                max_body=config.http_max_body_bytes,
                max_connections=config.max_matcher_connections,
            ),
        ):
            socket.bound()
            worker.start()
            outbox.start()
            checker.start()
            log.info("node %s following %s from %s; matcher on %s%s",
                     config.name, ", ".join(config.lists), config.hub, addresses.local,
                     f" and {addresses.tls} (mutual TLS)" if addresses.tls else "")  # fmt: skip
            try:
                _watch(worker, stopping=follower.stop, ready=replica_gauges.readiness,
                       health=health)  # fmt: skip
            finally:
                follower.shutdown()
                sender.shutdown()
                worker.join()
                outbox.join()
                checker.join(timeout=5)
    finally:  # whatever ended the node: release everything it holds
        socket.remove()
        replica_gauges.close()
        close_clients()
        store.close()
        watch.close()
        matcher.close()
        log.info("node stopped")


def _hub_log(config: NodeConfig, metrics: NodeMetrics) -> tuple[HubClient, HubLog, Closer]:
    """The hub's client, what the sync loop reads the log through (the hub, or with
    ``tiles_url`` the tiles and the hub), and how to close them."""
    client = HubClient(
        config.hub,
        ClientTLS(config.ca, config.tls_cert, config.tls_key),
        timeout=config.timeout_seconds,
        max_message_bytes=config.max_message_bytes,
    )
    if not config.tiles_url:
        return client, client, client.close
    tiles = TilesClient(config.tiles_url, config.tiles_tls, timeout=config.timeout_seconds)
    log.info("reading checkpoints and leaves from the tiles at %s; the hub's push still "
             "wakes the node", config.tiles_url)  # fmt: skip

    def close() -> None:
        client.close()
        tiles.close()

    return client, TilesLog(client, tiles, metrics), close


def _loaded_matcher(config: NodeConfig, clock: Clock, store: SqliteNodeStore) -> Matcher:
    """The Matcher, observing ``store``, its kernels compiled and its index loaded."""
    matcher = open_matcher(config.database, config.lists, clock, match_settings(config))
    store.observer = matcher
    took = warm_up([(256, config.pdq_radius), (64, config.phash_radius)])
    log.info("matching kernels ready in %.1f s (compiled, or loaded from numba's cache)", took)
    matcher.load()
    return matcher


def _watch(
    worker: threading.Thread,
    *,
    stopping: threading.Event,
    ready: Readiness,
    health: HealthServicer,
) -> None:
    """Until the sync loop ends: the Matcher's gRPC health follows readiness, and a
    change of readiness is logged (once, not at every look)."""
    was = "starting"
    while worker.is_alive():
        now = ready()
        set_matcher_health(health, serving=not now)
        if now != was:
            if now:
                log.warning("not ready: %s", now)
            else:
                log.info("ready: every list verified and fresh")
            was = now
        worker.join(_WATCH_SECONDS)
        if not worker.is_alive() and not stopping.is_set():
            raise HashlistError("the sync loop ended unexpectedly; see the log above")
