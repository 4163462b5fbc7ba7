"""Starting and stopping the hub process.

``running_hub(config)`` is a context manager that opens the store, loads the
keys, binds (port 0 picks a free one), starts the re-cosigning thread and
yields a ``RunningHub`` with the bound port; leaving it stops everything in
order. ``serve_forever`` wraps it for the CLI: SIGTERM or SIGINT ends it
gracefully, letting in-flight calls finish within ``grace_seconds``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from hashlist.clock import Clock, SystemClock
from hashlist.errors import ConfigError, MalformedNoteError
from hashlist.note import COSIGNATURE_V1, ED25519, Verifier, parse_note
from hashlist.rpc import server_credentials, server_options
from hashlist.serving import load_signer, stop_on_signal
from hashlist.trustroot import parse_trust_root
from hashlist.v1 import hashlist_pb2 as pb
from hashlist.v1 import hashlist_pb2_grpc as pb_grpc
from hashlist.witness_client import WitnessClient
from server.config import HubConfig
from server.hub import Hub, build_hub
from server.ratelimit import TokenBuckets
from server.servicer import AdminServicer, LogServicer, ReportsServicer
from server.store import SqliteHubStore
from server.streams import StreamSlots
from server.witness_submitter import WitnessSubmitter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunningHub:
    port: int
    hub: Hub


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
    store = SqliteHubStore(config.database)
    try:
        hub = build_hub(
            name=config.name, store=store, log_signers=log_signers,
            timestamp_signer=timestamp_signer, clock=clock or SystemClock(),
            max_delta_bytes=config.max_delta_bytes, trust_roots=trust_roots,
            report_limit=TokenBuckets(rate=config.max_reports_per_second,
                                      burst=config.report_burst),
        )  # fmt: skip
    except BaseException:
        store.close()
        raise
    server = grpc.server(
        ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="hub"),
        options=server_options(config.max_message_bytes),
        maximum_concurrent_rpcs=config.max_workers * 4,
    )
    pb_grpc.add_LogServicer_to_server(
        LogServicer(
            hub,
            leaf_batch_bytes=config.leaf_batch_bytes,
            snapshot_batch=config.snapshot_batch,
            slots=StreamSlots(
                per_identity=config.max_streams_per_identity,
                total=config.max_workers - config.unary_reserve,
            ),
        ),
        server,
    )
    pb_grpc.add_AdminServicer_to_server(
        AdminServicer(hub, max_publish_hashes=config.max_publish_hashes), server
    )
    pb_grpc.add_ReportsServicer_to_server(ReportsServicer(hub), server)
    health_servicer = health.HealthServicer()
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
        store.close()
        raise ConfigError(f"cannot bind {config.listen}: {e}") from e
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
    server.start()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    stop = threading.Event()

    def recosign_loop() -> None:
        while not stop.wait(config.recosign_interval_seconds):
            try:
                hub.cosigner.recosign()
            except Exception:
                log.exception("re-cosigning failed; will retry next interval")

    recosigner = threading.Thread(target=recosign_loop, name="recosign", daemon=True)
    recosigner.start()
    witnessing.start()
    log.info("hub %s listening on port %d", config.name, port)
    try:
        yield RunningHub(port, hub)
    finally:
        health_servicer.enter_graceful_shutdown()
        stop.set()
        witnessing.stop()
        hub.broadcaster.close()
        server.stop(config.grace_seconds).wait()
        recosigner.join(timeout=5)
        store.close()
        log.info("hub stopped")


def serve_forever(config: HubConfig) -> None:
    done = stop_on_signal()
    with running_hub(config) as running:
        print(f"hashlist hub {config.name} listening on port {running.port}", flush=True)
        done.wait()
