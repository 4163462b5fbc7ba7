"""The node's configuration: every field, its default and what it is for."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hashlist.config import load_config
from hashlist.delta import DEFAULT_MAX_DELTA_BYTES, MAX_ENTRY_BYTES, validate_list_id
from hashlist.errors import ConfigError, InputError
from hashlist.logs import check_log_options
from hashlist.probes import is_loopback, split_listen
from hashlist.rpc import DEFAULT_MAX_MESSAGE_BYTES
from hashlist.signals import DEFAULT_MAX_PIXELS
from hashlist.tiles_client import TlsFiles, check_base_url
from hashlist.trustroot import TrustRoot


@dataclass(frozen=True)
class NodeConfig:
    name: str
    """This partner's name, as in its certificate (for logs and status)."""
    hub: str
    """The hub's host:port."""
    trust_root: Path
    """Trust-root TOML: the hub's log and timestamp keys, witnesses, maximum age."""
    lists: tuple[str, ...]
    """Lists to follow; the hub must have granted each to this partner."""
    database: Path
    """SQLite file for the replica and the verified state."""
    tls_cert: Path
    tls_key: Path
    ca: Path
    """CA that issued the hub's certificate."""
    max_checkpoint_age_seconds: int = 0
    """Older newest-cosignature => stale. 0: use the trust root's value."""
    snapshot_threshold_leaves: int = 1000
    """Bootstrap from a snapshot when empty or more than this many leaves behind. With
    ``tiles_url``, that many leaves or fewer are replayed from the tiles instead, and so
    is a longer way when the hub's snapshot is out of reach (up to ``max_step_bytes``)."""
    max_step_bytes: int = 64 * 1024 * 1024
    """Most leaf bytes one step downloads and verifies in memory before it writes
    anything; a longer way behind is caught up from a snapshot (staged on disk)."""
    replica_check_seconds: float = 3600.0
    """How often the rows are re-hashed against the verified state digest (also
    once at start); a mismatch raises an alarm and the list is repaired from the
    hub. 0 disables the schedule (the start-up check still runs)."""
    refused_retry_seconds: float = 60.0
    """How often a list the hub refused is asked for again while others are followed."""
    metrics_listen: str = ""
    """host:port of the plain-HTTP /metrics, /livez and /readyz endpoint (e.g.
    ``127.0.0.1:9464``); empty: none. No TLS, no authentication: bind it to loopback or
    a network only Prometheus and the kubelet reach."""
    log_level: str = "info"
    """debug, info, warning or error (``--log-level`` overrides it)."""
    log_format: str = "text"
    """text, or json: one object per line for log pipelines (``--log-format``)."""
    timeout_seconds: float = 15.0
    """Deadline for each unary call to the hub (streams get a multiple of it)."""
    reconnect_base_seconds: float = 0.5
    reconnect_cap_seconds: float = 30.0
    """Reconnection backoff: full jitter, doubling from base up to cap."""
    max_delta_bytes: int = DEFAULT_MAX_DELTA_BYTES
    """Largest leaf accepted; anything larger is refused as malformed. At least 65,535,
    the bound of a leaf of log format version 2, which applies whatever this says; the
    default, 16 MiB, is the bound of a v1 leaf, written by hubs before version 2."""
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    """gRPC receive limit: an oversized response is refused by the transport."""
    tiles_url: str = ""
    """Base URL of the hub's static tiles (``docs/tiles.md``): ``<list>/checkpoint`` and
    ``<list>/tile/...`` are found under it, e.g. ``https://tiles.hub.example/lists``.
    Set: checkpoints and leaves are read from there (any mirror or CDN), verified as
    ever, with this node's certificate (``tls_cert``); the hub's push still wakes the
    node, and while the hub is out of reach the checkpoint is polled. Empty: off."""
    tiles_ca: Path | None = None
    """CA file (PEM) that issued the tiles server's certificate; absent: ``ca`` (the
    hub's CA), unless ``tiles_system_ca``."""
    tiles_system_ca: bool = False
    """Check the tiles server's certificate against the system's trust store (a CDN's
    public certificate) instead; not with ``tiles_ca``."""
    tiles_poll_seconds: float = 10.0
    """While the hub is out of reach, how often the tiles' checkpoint is polled."""

    matcher_listen: str = ""
    """Where the Matcher service listens: ``unix:PATH`` or a loopback ``host:port``
    (127.0.0.1, ::1, localhost). Empty: ``unix:`` + the database path with the suffix
    ``.sock``. Once the three ``matcher_tls_*``/``matcher_client_ca`` files are set, any
    ``host:port`` (e.g. ``0.0.0.0:50061``), served with mutual TLS; the default Unix
    socket is then served too, for tools on the node's own host."""
    matcher_tls_cert: Path | None = None
    """Certificate (PEM) the Matcher presents on TCP, and ``http_listen`` too: issued by
    the platform's own CA for the host names its upload services dial."""
    matcher_tls_key: Path | None = None
    """The private key of ``matcher_tls_cert``."""
    matcher_client_ca: Path | None = None
    """CA (PEM) of the platform's upload services: with TLS set, a caller must present
    a client certificate it issued, or the handshake fails."""
    http_listen: str = ""
    """``host:port`` of the Matcher's JSON API (``POST /v1/check``, ``/v1/check-batch``,
    ``/v1/verdict``; ``GET /openapi.json``). Empty: none. Loopback only without the
    TLS files above; with them, HTTPS with client certificates on any address."""
    http_max_body_bytes: int = 16 * 1024 * 1024
    """Largest JSON body the JSON API reads (a 10,000-hash batch is about 1.3 MB; an
    image in base64 is 4/3 of its size). Bodies are parsed four at a time at most."""
    max_matcher_connections: int = 1024
    """Most connections open at once to the gRPC TCP listener, and to the JSON API;
    more are closed as they are accepted."""
    pdq_radius: int = 31
    """PDQ near match: Hamming distance at most this (Meta's recommendation)."""
    phash_radius: int = 8
    """pHash near match: Hamming distance at most this."""
    pdq_min_quality: int = 50
    """Content whose PDQ quality is below this is not near-matched by PDQ."""
    max_check_bytes: int = 64 * 1024 * 1024
    """Largest content a Check may carry; larger is refused by the transport."""
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    """Images with more pixels are refused, not decoded (a large JPEG is first decoded
    at a reduced scale); Pillow's own limit is 178 million."""
    max_concurrent_decodes: int = 2
    """Checks with content decode at most this many images at once; the rest wait."""
    report_batch: int = 500
    """Reports and verdicts per delivery to the hub."""
    video_seconds_per_hash: float = 1.0
    """A video sent as bytes is hashed at one frame per this many seconds (0: every frame)."""
    max_video_seconds: float = 60.0
    """Decoding budget for one video sent as bytes; longer is refused (send its vpdq
    frames, hashed with ``hashlist hash``, instead). Decodes count against
    ``max_concurrent_decodes`` like images."""
    video_target_match_percent: float = 80.0
    """A listed video matches when at least this share of its frames is near a query
    frame (Meta's vPDQ default) ..."""
    video_query_match_percent: float = 0.0
    """... and at least this share of the query's frames is near one of its frames
    (Meta's default: 0, so a clip inside a longer upload matches)."""
    video_match_percent_by_list: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    """Per list id, ``[target, query]`` percents instead of the two above, e.g.
    ``video_match_percent_by_list = { takeitdown = [90.0, 50.0] }``."""

    def __post_init__(self) -> None:
        check_log_options(self.log_level, self.log_format)
        if not self.lists:
            raise ConfigError("lists must name at least one list to follow")
        for list_id in self.lists:
            try:
                validate_list_id(list_id)
            except InputError as e:
                raise ConfigError(str(e)) from e
        if self.max_delta_bytes < MAX_ENTRY_BYTES:
            raise ConfigError(
                f"max_delta_bytes must be at least {MAX_ENTRY_BYTES}, got {self.max_delta_bytes}: "
                "a lower limit would refuse leaves the hub writes"
            )
        if self.snapshot_threshold_leaves < 1:
            raise ConfigError("snapshot_threshold_leaves must be at least 1")
        if self.max_step_bytes < 1024 or self.replica_check_seconds < 0:
            raise ConfigError("max_step_bytes must be >= 1024 and replica_check_seconds >= 0")
        if self.refused_retry_seconds <= 0:
            raise ConfigError("refused_retry_seconds must be positive")
        self._check_tiles()
        if not 0 < self.reconnect_base_seconds <= self.reconnect_cap_seconds:
            raise ConfigError("need 0 < reconnect_base_seconds <= reconnect_cap_seconds")
        if not 0 <= self.pdq_radius < 256 or not 0 <= self.phash_radius < 64:
            raise ConfigError("pdq_radius must be in [0, 255] and phash_radius in [0, 63]")
        if not 0 <= self.pdq_min_quality <= 100:
            raise ConfigError("pdq_min_quality must be in [0, 100]")
        if self.max_image_pixels < 1 or self.max_concurrent_decodes < 1:
            raise ConfigError("max_image_pixels and max_concurrent_decodes must be positive")
        self._check_video_thresholds()
        if self.report_batch < 1 or self.max_check_bytes < 1024:
            raise ConfigError("report_batch must be >= 1 and max_check_bytes >= 1024")
        self._check_matcher_listeners()

    def _check_tiles(self) -> None:
        if self.tiles_url:
            check_base_url(self.tiles_url)
        if self.tiles_ca and self.tiles_system_ca:
            raise ConfigError("set tiles_ca or tiles_system_ca, not both")
        if self.tiles_poll_seconds <= 0:
            raise ConfigError("tiles_poll_seconds must be positive")

    def _check_video_thresholds(self) -> None:
        if self.video_seconds_per_hash < 0 or self.max_video_seconds <= 0:
            raise ConfigError("video_seconds_per_hash must be >= 0 and max_video_seconds > 0")
        pairs = [(self.video_target_match_percent, self.video_query_match_percent),
                 *map(tuple, self.video_match_percent_by_list.values())]  # fmt: skip
        if any(len(p) != 2 or not all(0 <= x <= 100 for x in p) for p in pairs):
            raise ConfigError("video match percents are 0..100, given per list as [target, query]")
        if unknown := sorted(set(self.video_match_percent_by_list) - set(self.lists)):
            raise ConfigError(f"video_match_percent_by_list names lists not followed: {unknown}")

    def _check_matcher_listeners(self) -> None:
        tls = (self.matcher_tls_cert, self.matcher_tls_key, self.matcher_client_ca)
        if any(tls) and not all(tls):
            raise ConfigError("set all three of matcher_tls_cert, matcher_tls_key and "
                              "matcher_client_ca, or none")  # fmt: skip
        if self.max_matcher_connections < 1 or self.http_max_body_bytes < 1024:
            raise ConfigError("max_matcher_connections must be >= 1 and http_max_body_bytes "
                              ">= 1024")  # fmt: skip
        check_local_address(self.matcher_address)
        if self.matcher_tls is None:
            if self.http_listen:
                check_local_address(self.http_listen, "http_listen")
            return
        if self.matcher_tls_address:
            split_listen(self.matcher_tls_address, "matcher_listen")
        if self.http_listen:
            split_listen(self.http_listen, "http_listen")

    @property
    def tiles_tls(self) -> TlsFiles:
        """What the node presents to the tiles server, and the CA it checks it with."""
        ca = None if self.tiles_system_ca else self.tiles_ca or self.ca
        return TlsFiles(self.tls_cert, self.tls_key, ca)

    @property
    def matcher_tls(self) -> MatcherTLS | None:
        """The Matcher's TLS files, if it serves TCP and HTTP with client certificates."""
        if self.matcher_tls_cert and self.matcher_tls_key and self.matcher_client_ca:
            return MatcherTLS(self.matcher_tls_cert, self.matcher_tls_key, self.matcher_client_ca)
        return None

    @property
    def matcher_address(self) -> str:
        """The Matcher's address on this host, without TLS (what ``hashlist node check``
        dials): ``matcher_listen`` when it is local, else the default Unix socket."""
        if self.matcher_listen and not self.matcher_tls_address:
            return self.matcher_listen
        return f"unix:{self.database.resolve().with_suffix('.sock')}"

    @property
    def matcher_tls_address(self) -> str:
        """The Matcher's TCP address with client certificates, or "" (none)."""
        if self.matcher_tls is None or self.matcher_listen.startswith("unix:"):
            return ""
        return self.matcher_listen


def outbox_path(database: Path) -> Path:
    """``facebook.db`` -> ``facebook.outbox.db``."""
    return database.with_name(f"{database.stem}.outbox{database.suffix or '.db'}")


@dataclass(frozen=True)
class MatcherTLS:
    """The Matcher's server certificate and key, and the CA of its clients."""

    cert: Path
    key: Path
    client_ca: Path


def check_local_address(address: str, key: str = "matcher_listen") -> None:
    """Refuse any address but a Unix socket or loopback for a listener without TLS."""
    if address.startswith("unix:") and key == "matcher_listen":
        if len(address) - len("unix:") > 100:
            raise ConfigError(f"unix socket path too long (max 100 bytes): {address}")
        return
    if not is_loopback(address):
        where = "unix:PATH or a loopback host:port" if key == "matcher_listen" else (
            "a loopback host:port")  # fmt: skip
        raise ConfigError(
            f"{key} must be {where} (or set matcher_tls_cert, matcher_tls_key and "
            f"matcher_client_ca for any address, with client certificates), got {address!r}"
        )


def load_node_config(path: Path, overrides: dict[str, Any] | None = None) -> NodeConfig:
    return load_config(NodeConfig, path, overrides)


def with_local_policy(trust: TrustRoot, config: NodeConfig) -> TrustRoot:
    """``trust`` with this node's own overrides (a stricter maximum age, say)."""
    if config.max_checkpoint_age_seconds:
        return dataclasses.replace(
            trust, max_checkpoint_age_seconds=config.max_checkpoint_age_seconds
        )
    return trust
