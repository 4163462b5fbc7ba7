"""The witness's configuration: every field, its default and what it is for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hashlist.config import load_config
from hashlist.errors import ConfigError
from hashlist.logs import check_log_options
from hashlist.witness_protocol import MAX_REQUEST_BYTES


@dataclass(frozen=True)
class WitnessConfig:
    key: Path
    """Signer key file (C2SP ``PRIVATE+KEY+...``, cosignature/v1) this witness cosigns with;
    its name is the witness's name in every cosignature."""
    database: Path
    """SQLite file: the last checkpoint cosigned per origin, and refused evidence.
    Losing it lets the witness be fooled once per log: retire the key instead."""
    logs: tuple[Path, ...]
    """Trust roots of the hubs witnessed; their log keys must sign every checkpoint."""
    tls_cert: Path
    tls_key: Path
    """The HTTPS server certificate and key (clients need no certificate: the
    checkpoint's signature, not the connection, says who submits)."""
    listen: str = "127.0.0.1:7380"
    """host:port to bind; port 0 picks a free port (printed at start)."""
    metrics_listen: str = ""
    """host:port of the plain-HTTP /metrics, /livez and /readyz endpoint (e.g.
    ``127.0.0.1:9464``); empty: none. No TLS, no authentication: bind it to loopback or
    a network only Prometheus and the kubelet reach."""
    log_level: str = "info"
    """debug, info, warning or error (``--log-level`` overrides it)."""
    log_format: str = "text"
    """text, or json: one object per line for log pipelines (``--log-format``)."""
    max_request_bytes: int = MAX_REQUEST_BYTES
    """Larger requests are refused with 413 before they are read."""
    request_timeout_seconds: float = 10.0
    """A connection that sends nothing for this long is closed."""

    def __post_init__(self) -> None:
        check_log_options(self.log_level, self.log_format)
        if not self.logs:
            raise ConfigError("logs must name at least one hub trust root to witness")
        if not 0 < self.max_request_bytes <= MAX_REQUEST_BYTES:
            raise ConfigError(f"max_request_bytes must be in (0, {MAX_REQUEST_BYTES}]")
        if self.request_timeout_seconds <= 0:
            raise ConfigError("request_timeout_seconds must be positive")


def load_witness_config(path: Path, overrides: dict[str, Any] | None = None) -> WitnessConfig:
    return load_config(WitnessConfig, path, overrides)
