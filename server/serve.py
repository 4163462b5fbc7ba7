"""Starting and stopping the hub process.

``running_hub(config)`` is a context manager that opens the store, loads the
keys, binds (port 0 picks a free one), starts the re-cosigning thread and
yields a ``RunningHub`` with the bound port; leaving it stops everything in
order. ``serve_forever`` wraps it for the CLI: SIGTERM or SIGINT ends it
gracefully, letting in-flight calls finish within ``grace_seconds``.

The gRPC server is a grpc.aio server on an event loop of its own thread
(``server.loop_thread``). Subscriptions are coroutines on that loop, so
thousands of them hold no thread; every other call is synchronous and runs in
the ``max_workers`` worker threads (the server's migration pool, also the
loop's default executor), as the hub's parts expect. On stop, the broadcaster
is closed first, so subscriptions end at once, then calls in flight get
``grace_seconds``.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from hashlist.clock import Clock, SystemClock
from hashlist.devpki import is_development_ca
from hashlist.errors import ConfigError, MalformedNoteError
from hashlist.note import COSIGNATURE_V1, ED25519, Verifier, parse_note
from hashlist.probes import Probes, serving_probes
from hashlist.rpc import server_credentials, server_options
from hashlist.serving import fit_connections, load_signer, raise_fd_limit, stop_on_signal
from hashlist.trustroot import parse_trust_root
from hashlist.v1 import hashlist_pb2 as pb
from hashlist.v1 import hashlist_pb2_grpc as pb_grpc
from hashlist.witness_client import WitnessClient
from server.cases_servicer import CasesServicer
from server.config import HubConfig
from server.hub import Hub, build_hub
from server.loop_thread import LoopThread
from server.ratelimit import TokenBuckets
from server.servicer import AdminServicer, LogServicer, ReportsServicer
from server.store import SqliteHubStore
from server.streams import StreamSlots
from server.witness_submitter import WitnessSubmitter

log = logging.getLogger(__name__)
PURGE_INTERVAL_SECONDS = 3600.0
SIGHTINGS_SECONDS = 30.0  # how stale `hub partners`' last-seen may be between its calls
CASES_SECONDS = 1.0  # how often due case batches (and unfinished retractions) are looked for
# Python's collector looks at young objects every 700 allocations by default. A
# publication announced to thousands of subscriptions allocates a few objects per
# stream, alive until its write completes: collected that often, they are promoted
# and later make full collections of every stream's objects (half a second at 4,000)
# stall the event loop. This many, they are gone before the collector looks.
COLLECT_AFTER_ALLOCATIONS = 100_000


@dataclass(frozen=True)
class RunningHub:
    port: int
    hub: Hub
    probes: Probes | None = None  # where /metrics, /livez and /readyz are served


def load_signed_trust_roots(paths: Sequence[Path]) -> dict[int, bytes]:
    """Signed trust-root files by version. Only the structure is checked here:
    the hub serves them, nodes verify the chain of signatures."""
    out: dict[int, bytes] = {}
    for path in paths:
        try:
            signed = path.read_bytes()
            version = parse_trust_root(parse_note(signed).text.decode(), source=str(path)).version
        except OSError as e:
            raise ConfigError(f"cannot read trust root {path}: {e.strerror}") from e
        except (MalformedNoteError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path} is not a signed trust root: {e}") from e
        if version in out:
            raise ConfigError(f"{path}: trust root version {version} is listed twice")
        out[version] = signed
    return out


@contextmanager
def running_hub(config: HubConfig, *, clock: Clock | None = None) -> Iterator[RunningHub]:
    log_signers = [
        load_signer(path, ED25519, "log key") for path in (config.log_key, *config.extra_log_keys)
    ]
    timestamp_signer = load_signer(config.timestamp_key, COSIGNATURE_V1, "timestamp key")
    trust_roots = load_signed_trust_roots(config.trust_roots)
    _warn_if_development_ca(config)
    # Descriptors kept for the hub's own use: a read connection per worker thread
    # (database, WAL, shared memory), the writer, its witnesses, logs.
    reserve = 3 * (config.max_workers + 1) + 2 * len(config.witnesses) + 64
    fd_limit = raise_fd_limit(config.max_connections + reserve)
    max_connections = fit_connections(config.max_connections, reserve, fd_limit)
    store = SqliteHubStore(config.database)
    clock = clock or SystemClock()
    workers = ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="hub")
    grpc_loop = LoopThread("hub-grpc", workers)
    try:
        hub = build_hub(
            name=config.name, store=store, log_signers=log_signers,
            timestamp_signer=timestamp_signer, clock=clock,
            max_delta_bytes=config.max_delta_bytes, trust_roots=trust_roots,
            report_limit=TokenBuckets(rate=config.max_reports_per_second,
                                      burst=config.report_burst),
            tiles_dir=config.tiles_dir,
        )  # fmt: skip
        hub.write_tiles()
        server, port, health_servicer = grpc_loop.run(
            _grpc_server(config, hub, max_connections, workers)
        )
        hub.metrics.watch(hub, clock, config.recosign_interval_seconds)
        probes = ExitStack()
        served = probes.enter_context(
            serving_probes(config.metrics_listen, hub.metrics.registry, hub.metrics.readiness)
        )
    except BaseException:
        grpc_loop.close()
        workers.shutdown()
        store.close()
        raise
    # Before serving: the submitter takes over announcements (see its module).
    witnessing = WitnessSubmitter(
        hub,
        [
            (
                WitnessClient(url, config.witness_ca, timeout=config.witness_timeout_seconds),
                Verifier.from_string(key),
            )
            for url, key in zip(config.witnesses, config.witness_keys, strict=True)
        ],
        config.witness_retry_seconds,
        announce_seconds=config.witness_timeout_seconds,
        max_skew_seconds=config.witness_max_skew_seconds,
    )
    grpc_loop.run(server.start())
    grpc_loop.run(health_servicer.set("", health_pb2.HealthCheckResponse.SERVING))
    stop = threading.Event()
    retention = config.report_retention_days * 86_400
    chores = [
        _every(stop, config.recosign_interval_seconds, hub.cosigner.recosign, "re-cosigning"),
        _every(stop, SIGHTINGS_SECONDS, hub.access.flush_sightings, "recording certificates"),
        _every(stop, PURGE_INTERVAL_SECONDS,
               lambda: hub.reports.purge(retention, stopping=stop.is_set),
               "purging old reports", at_start=True),
        _every(stop, CASES_SECONDS, hub.cases.publish_due, "publishing cases", at_start=True),
    ]  # fmt: skip
    witnessing.start()
    log.info("hub %s listening on port %d", config.name, port)
    try:
        yield RunningHub(port, hub, served)
    finally:
        probes.close()
        grpc_loop.run(health_servicer.enter_graceful_shutdown())
        stop.set()
        witnessing.stop()
        hub.broadcaster.close()
        grpc_loop.run(server.stop(config.grace_seconds))
        grpc_loop.close()
        workers.shutdown(cancel_futures=True)  # each call in flight ends its step
        for chore in chores:
            chore.join(timeout=5)
        hub.access.flush_sightings()
        store.close()
        log.info("hub stopped")


def _warn_if_development_ca(config: HubConfig) -> None:
    try:
        development = is_development_ca(config.client_ca.read_bytes())
    except OSError as e:
        raise ConfigError(f"cannot read client_ca {config.client_ca}: {e.strerror}") from e
    if development:
        log.warning(
            "client_ca %s is the hashlist development CA: anyone can issue certificates "
            "from it (certs-dev/ is public). For tests and the demo only; issue your own "
            "CA for real partners", config.client_ca,
        )  # fmt: skip


async def _grpc_server(
    config: HubConfig, hub: Hub, max_connections: int, workers: ThreadPoolExecutor
) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    """The hub's services on a bound (not yet started) server; on the server's loop."""
    server = grpc.aio.server(
        migration_thread_pool=workers,
        options=server_options(
            config.max_message_bytes,
            max_connections=max_connections,
            handshake_timeout_seconds=config.handshake_timeout_seconds,
            idle_connection_seconds=config.idle_connection_seconds,
        ),
        # Every subscription, and a queue of calls waiting for a worker thread.
        maximum_concurrent_rpcs=config.max_subscriptions + 4 * config.max_workers,
    )
    slots = StreamSlots(
        per_identity=config.max_streams_per_identity,
        downloads=config.max_workers - config.unary_reserve,
        subscriptions=config.max_subscriptions,
    )
    pb_grpc.add_LogServicer_to_server(
        LogServicer(hub, leaf_batch_bytes=config.leaf_batch_bytes,
                    snapshot_batch=config.snapshot_batch, slots=slots),
        server,
    )  # fmt: skip
    pb_grpc.add_AdminServicer_to_server(
        AdminServicer(hub, max_publish_hashes=config.max_publish_hashes), server
    )
    pb_grpc.add_ReportsServicer_to_server(ReportsServicer(hub), server)
    pb_grpc.add_CasesServicer_to_server(CasesServicer(hub), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [
        d.full_name for n, d in pb.DESCRIPTOR.services_by_name.items() if n != "Matcher"
    ]  # the Matcher service is the node's
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    try:
        port = server.add_secure_port(
            config.listen, server_credentials(config.client_ca, config.tls_cert, config.tls_key)
        )
    except (OSError, RuntimeError) as e:
        raise ConfigError(f"cannot bind {config.listen}: {e}") from e
    return server, port, health_servicer


def _every(
    stop: threading.Event, seconds: float, chore: Callable[[], object], what: str,
    *, at_start: bool = False,
) -> threading.Thread:  # fmt: skip
    """A daemon thread doing ``chore`` every ``seconds`` until ``stop``; a failure is
    logged and the chore tried again next time."""

    def loop() -> None:
        wait = 0.0 if at_start else seconds
        while not stop.wait(wait):
            wait = seconds
            try:
                chore()
            except Exception:
                log.exception("%s failed; will retry in %.0f s", what, seconds)

    thread = threading.Thread(target=loop, name=what, daemon=True)
    thread.start()
    return thread


def serve_forever(config: HubConfig) -> None:
    done = stop_on_signal()
    gc.set_threshold(COLLECT_AFTER_ALLOCATIONS)
    with running_hub(config) as running:
        gc.freeze()  # what start-up made (modules, trees) lives as long as the process
        print(f"hashlist hub {config.name} listening on port {running.port}", flush=True)
        done.wait()
