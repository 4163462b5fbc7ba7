"""The hub's configuration: every field, its default and what it is for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hashlist.config import load_config
from hashlist.delta import DEFAULT_MAX_DELTA_BYTES
from hashlist.errors import ConfigError
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
    recosign_interval_seconds: float = 60.0
    """How often the current checkpoint of every list is re-cosigned. Keep it
    well below the nodes' maximum checkpoint age."""
    max_delta_bytes: int = DEFAULT_MAX_DELTA_BYTES
    """Largest delta (leaf) the hub will publish; larger publications are refused."""
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    """gRPC send/receive limit."""
    leaf_batch_bytes: int = 4 * 1024 * 1024
    """Target size of one GetLeaves batch."""
    snapshot_batch: int = 20_000
    """Signals per snapshot message."""
    max_workers: int = 256
    """gRPC worker threads; each open subscription holds one."""
    grace_seconds: float = 5.0
    """On SIGTERM, how long in-flight calls may finish before the server stops."""

    def __post_init__(self) -> None:
        if self.recosign_interval_seconds <= 0:
            raise ConfigError("recosign_interval_seconds must be positive")
        if self.max_delta_bytes > self.max_message_bytes - 1024:
            raise ConfigError("max_delta_bytes must fit in max_message_bytes")
        if self.max_workers < 4:
            raise ConfigError("max_workers must be at least 4")


def load_hub_config(path: Path, overrides: dict[str, Any] | None = None) -> HubConfig:
    return load_config(HubConfig, path, overrides)
