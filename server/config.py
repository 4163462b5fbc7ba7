"""The hub's configuration: every field, its default and what it is for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hashlist.config import load_config
from hashlist.delta import MAX_ENTRY_BYTES
from hashlist.errors import ConfigError, KeyFormatError
from hashlist.logs import check_log_options
from hashlist.note import COSIGNATURE_V1, Verifier
from hashlist.rpc import DEFAULT_MAX_MESSAGE_BYTES


@dataclass(frozen=True)
class HubConfig:
    name: str
    """The hub's name; checkpoint origins are ``<name>/lists/<list id>``."""
    database: Path
    """SQLite file holding lists, leaves, checkpoints, current sets and grants."""
    log_key: Path
    """Signer key file (C2SP ``PRIVATE+KEY+...``, Ed25519) that signs checkpoints."""
    timestamp_key: Path
    """Signer key file (cosignature/v1) that re-cosigns checkpoints with the time."""
    tls_cert: Path
    tls_key: Path
    client_ca: Path
    """CA whose certificates identify partners, the operator and auditors."""
    listen: str = "127.0.0.1:7443"
    """host:port to bind; port 0 picks a free port (printed at start)."""
    metrics_listen: str = ""
    """host:port of the plain-HTTP /metrics, /livez and /readyz endpoint (e.g.
    ``127.0.0.1:9464``); empty: none. No TLS, no authentication: bind it to loopback or
    a network only Prometheus and the kubelet reach."""
    log_level: str = "info"
    """debug, info, warning or error (``--log-level`` overrides it)."""
    log_format: str = "text"
    """text, or json: one object per line for log pipelines (``--log-format``)."""
    recosign_interval_seconds: float = 60.0
    """How often the current checkpoint of every list is re-cosigned. Keep it
    well below the nodes' maximum checkpoint age."""
    extra_log_keys: tuple[Path, ...] = ()
    """More Ed25519 signer key files that sign every checkpoint as well. For a key
    rollover: list the old key here and the new one as ``log_key`` until every
    node follows a trust root naming the new key, then drop the old one. At start
    the current checkpoints are re-signed with exactly the configured keys."""
    trust_roots: tuple[Path, ...] = ()
    """Signed trust-root versions to serve (``hashlist trust-root sign`` output), for
    nodes and auditors to follow a rotation; version 1 is distributed by hand."""
    witnesses: tuple[str, ...] = ()
    """``https://`` URLs of C2SP tlog-witnesses to submit every new checkpoint to;
    their cosignatures are served with the checkpoint."""
    witness_keys: tuple[str, ...] = ()
    """Each witness's cosignature/v1 verifier key (as ``hashlist keygen --cosigner`` prints
    it), in the order of ``witnesses``: a reply is served only if it verifies under it."""
    witness_max_skew_seconds: int = 300
    """A witness's cosignature dated further from the hub's clock is not served."""
    witness_ca: tuple[Path, ...] = ()
    """CA files for the witnesses' HTTPS certificates; empty: the system's store."""
    witness_timeout_seconds: float = 10.0
    """Deadline of one request to a witness (retried with backoff)."""
    witness_retry_seconds: float = 30.0
    """How often checkpoints a witness has not cosigned yet are submitted again."""
    tiles_dir: Path | None = None
    """Where each list's log is also written as static C2SP tlog-tiles files, under
    ``<tiles_dir>/<list id>/``, for a web server, object store or CDN to serve to
    nodes (``docs/tiles.md``); absent: none. The entry bundles hold the lists'
    hashes: serve them only to granted partners."""
    max_delta_bytes: int = MAX_ENTRY_BYTES
    """Largest delta (leaf), at most 65,535 (a leaf of log format version 2, what C2SP
    tlog-tiles can serve); a larger publication becomes several deltas, committed
    together. Below 58,772 a video of 900 frames no longer fits in one."""
    max_publish_hashes: int = 2_000_000
    """Most hashes one publication may carry (they are held in memory until it commits)."""
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    """gRPC send/receive limit."""
    leaf_batch_bytes: int = 4 * 1024 * 1024
    """Target size of one GetLeaves batch."""
    snapshot_batch: int = 20_000
    """Signals per snapshot message."""
    max_workers: int = 256
    """Worker threads for every call but subscriptions: a unary call holds one while it
    runs, a leaf or snapshot download while it reads each message. Subscriptions hold
    none (they wait on the server's event loop)."""
    max_reports_per_second: float = 1000.0
    """Reports and verdicts one partner may send per second, on average ..."""
    report_burst: int = 10_000
    """... and at once (at least one full batch of 5,000); more gets RESOURCE_EXHAUSTED."""
    report_retention_days: int = 365
    """Reports and verdicts are deleted this long after the hub received them (checked
    at start and hourly)."""
    max_streams_per_identity: int = 8
    """Open streams (subscriptions and downloads) one identity (role and name: all its
    certificates) may hold at once; more are refused with RESOURCE_EXHAUSTED. A node holds
    one subscription, and a download while it catches up."""
    max_subscriptions: int = 20_000
    """Open subscriptions of all identities together; more are refused. Each costs some
    memory and a wake-up per new checkpoint, not a thread."""
    unary_reserve: int = 16
    """Worker threads downloads may never take (at most ``max_workers - unary_reserve``
    run at once): unary calls always find one."""
    max_connections: int = 16384
    """Connections accepted at once, TLS handshakes included; more are closed at once. A
    node holds one (its subscription and its calls share it).
    Lowered at start (with a warning) if the file-descriptor limit, raised to its hard
    limit, would not also leave the hub room for its database and its witnesses."""
    handshake_timeout_seconds: float = 10.0
    """A connection that has not completed its TLS handshake by then is closed."""
    idle_connection_seconds: float = 600.0
    """A connection with no call for this long is closed (nodes keep a stream open)."""
    grace_seconds: float = 5.0
    """On SIGTERM, how long in-flight calls may finish before the server stops."""

    def __post_init__(self) -> None:
        check_log_options(self.log_level, self.log_format)
        self._check_witnesses()
        positive = {
            "recosign_interval_seconds": self.recosign_interval_seconds,
            "witness_timeout_seconds": self.witness_timeout_seconds,
            "witness_retry_seconds": self.witness_retry_seconds,
            "max_reports_per_second": self.max_reports_per_second,
            "handshake_timeout_seconds": self.handshake_timeout_seconds,
            "idle_connection_seconds": self.idle_connection_seconds,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{name} must be positive, got {value}")
        at_least = {
            "max_publish_hashes": (self.max_publish_hashes, 1),
            "max_delta_bytes": (self.max_delta_bytes, 1024),
            "report_burst": (self.report_burst, 1),
            "report_retention_days": (self.report_retention_days, 1),
            "max_connections": (self.max_connections, 16),
            "max_workers": (self.max_workers, 4),
            "max_streams_per_identity": (self.max_streams_per_identity, 1),
            "max_subscriptions": (self.max_subscriptions, 1),
            "unary_reserve": (self.unary_reserve, 1),
        }
        for name, (value, least) in at_least.items():
            if value < least:
                raise ConfigError(f"{name} must be at least {least}, got {value}")
        if self.max_delta_bytes > MAX_ENTRY_BYTES:
            raise ConfigError(
                f"max_delta_bytes must be at most {MAX_ENTRY_BYTES}, got {self.max_delta_bytes}: "
                "a leaf of log format version 2 is at most 65,535 bytes so that the log can be "
                "served as C2SP tlog-tiles (a larger publication becomes several leaves anyway)"
            )
        if self.max_delta_bytes > self.max_message_bytes - 1024:
            raise ConfigError("max_delta_bytes must fit in max_message_bytes")
        if self.unary_reserve >= self.max_workers:
            raise ConfigError("unary_reserve must be below max_workers")

    def _check_witnesses(self) -> None:
        if any(not w.startswith("https://") for w in self.witnesses):
            raise ConfigError("witnesses must be https:// URLs")
        if len(self.witness_keys) != len(self.witnesses):
            raise ConfigError(
                f"{len(self.witnesses)} witness(es) but {len(self.witness_keys)} witness_keys: "
                "give each witness's verifier key, in the same order"
            )
        for key in self.witness_keys:
            try:
                if Verifier.from_string(key).sig_type != COSIGNATURE_V1:
                    raise ConfigError(f"witness key {key[:40]}... is not a cosignature/v1 key")
            except KeyFormatError as e:
                raise ConfigError(f"witness_keys: {e}") from e


def load_hub_config(path: Path, overrides: dict[str, Any] | None = None) -> HubConfig:
    return load_config(HubConfig, path, overrides)
