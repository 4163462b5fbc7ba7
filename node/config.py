"""The node's configuration: every field, its default and what it is for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hashlist.config import load_config
from hashlist.delta import DEFAULT_MAX_DELTA_BYTES, validate_list_id
from hashlist.errors import ConfigError, InputError
from hashlist.rpc import DEFAULT_MAX_MESSAGE_BYTES


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
    """Bootstrap from a snapshot when empty or more than this many leaves behind."""
    timeout_seconds: float = 15.0
    """Deadline for each unary call to the hub (streams get a multiple of it)."""
    reconnect_base_seconds: float = 0.5
    reconnect_cap_seconds: float = 30.0
    """Reconnection backoff: full jitter, doubling from base up to cap."""
    max_delta_bytes: int = DEFAULT_MAX_DELTA_BYTES
    """Largest leaf accepted; anything larger is refused as malformed."""
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    """gRPC receive limit: an oversized response is refused by the transport."""

    def __post_init__(self) -> None:
        if not self.lists:
            raise ConfigError("lists must name at least one list to follow")
        for list_id in self.lists:
            try:
                validate_list_id(list_id)
            except InputError as e:
                raise ConfigError(str(e)) from e
        if self.snapshot_threshold_leaves < 1:
            raise ConfigError("snapshot_threshold_leaves must be at least 1")
        if not 0 < self.reconnect_base_seconds <= self.reconnect_cap_seconds:
            raise ConfigError("need 0 < reconnect_base_seconds <= reconnect_cap_seconds")


def load_node_config(path: Path, overrides: dict[str, Any] | None = None) -> NodeConfig:
    return load_config(NodeConfig, path, overrides)
