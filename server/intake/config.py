"""The intake service's configuration: every field, its default and what it is for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hashlist.cases import MAX_CASE_SIGNALS
from hashlist.config import load_config
from hashlist.delta import validate_list_id
from hashlist.errors import ConfigError, InputError
from hashlist.logs import check_log_options
from hashlist.probes import is_loopback


@dataclass(frozen=True)
class IntakeConfig:
    hub: str
    """host:port of the hub's gRPC service."""
    hub_ca: Path
    """CA (PEM) of the hub's server certificate."""
    cert: Path
    """This service's ``intake`` role certificate for the hub (``hashlist pki``): it may
    only open, read and withdraw cases."""
    key: Path
    """The private key of ``cert``."""
    list_id: str
    """The list cases are opened on; the hub's operator sets its policy
    (``hashlist hub cases policy``)."""
    listen: str = "127.0.0.1:8080"
    """host:port of the public HTTPS service (port 0 picks one). Without ``tls_cert``
    it must be loopback (behind a TLS-terminating proxy on the same host)."""
    tls_cert: Path | None = None
    """The public HTTPS certificate chain (PEM), as browsers expect it."""
    tls_key: Path | None = None
    """The private key of ``tls_cert``."""
    max_signals: int = 100
    """Most hashes one case may carry here (the hub's policy for the list may be lower)."""
    max_body_bytes: int = 64 * 1024
    """Largest request body accepted; larger ones get 413 before they are read."""
    requests_per_minute: int = 60
    """Requests one client address may make per minute (kept in memory only) ..."""
    cases_per_hour: int = 10
    """... and cases it may open per hour. Behind a proxy every client has the proxy's
    address: set these for the proxy's whole traffic, or rate-limit at the proxy."""
    max_clients: int = 100_000
    """Client addresses whose rate limits are remembered at once (the oldest full ones
    are forgotten first)."""
    max_connections: int = 512
    """Connections open at once; more are closed as accepted."""
    hub_timeout_seconds: float = 10.0
    """Deadline of one call to the hub (retried with backoff while it is unavailable)."""
    metrics_listen: str = ""
    """host:port of the plain-HTTP /metrics, /livez and /readyz endpoint; empty: none.
    Ready: the hub answered the last call. Bind it to loopback or a private network."""
    serve_page: bool = True
    """Serve the hashing page at ``/`` (``hashlist intake page`` writes the same files
    for any other web server)."""
    log_level: str = "info"
    """debug, info, warning or error."""
    log_format: str = "text"
    """text, or json: one object per line."""

    def __post_init__(self) -> None:
        check_log_options(self.log_level, self.log_format)
        try:
            validate_list_id(self.list_id)
        except InputError as e:
            raise ConfigError(f"list_id: {e}") from e
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("set both tls_cert and tls_key, or neither")
        if self.tls_cert is None and not is_loopback(self.listen):
            raise ConfigError(f"listen {self.listen} is not loopback: set tls_cert and tls_key "
                              "to serve HTTPS (the page and the PINs need it)")  # fmt: skip
        if not 1 <= self.max_signals <= MAX_CASE_SIGNALS:
            raise ConfigError(f"max_signals must be 1 to {MAX_CASE_SIGNALS:,}")
        for name in ("max_body_bytes", "requests_per_minute", "cases_per_hour", "max_clients",
                     "max_connections"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.hub_timeout_seconds <= 0:
            raise ConfigError("hub_timeout_seconds must be positive")


def load_intake_config(path: Path, overrides: dict[str, Any] | None = None) -> IntakeConfig:
    return load_config(IntakeConfig, path, overrides)
