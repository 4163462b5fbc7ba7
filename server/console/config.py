"""The console's configuration: every field, its default and what it is for.

The console holds the operator's certificate and key, so it listens on loopback
only (reach it from elsewhere through ``ssh -L``); a browser gets in with the
one-time login link it prints at start (``server.console.auth``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hashlist.config import load_config
from hashlist.errors import ConfigError
from hashlist.logs import check_log_options
from hashlist.oversight import MAX_ACTIVITY_DAYS
from hashlist.probes import is_loopback


@dataclass(frozen=True)
class ConsoleConfig:
    hub: str
    """host:port of the hub's gRPC service."""
    hub_ca: Path
    """CA (PEM) of the hub's server certificate."""
    cert: Path
    """The operator's certificate for the hub: every action is recorded under its name."""
    key: Path
    """The private key of ``cert``."""
    trust_root: Path
    """The hub's trust root (``hashlist keys trust-root``): checkpoints and witnesses'
    cosignatures are shown only as verified against it, and audit bundles are
    exported from it."""
    listen: str = "127.0.0.1:7395"
    """host:port to serve on (port 0 picks one): loopback only."""
    tls_cert: Path | None = None
    """Optional HTTPS for the console itself (the session cookie is then ``Secure``)."""
    tls_key: Path | None = None
    """The private key of ``tls_cert``."""
    session_hours: float = 12.0
    """How long a login lasts; then open a new login link (restart the console)."""
    stale_seconds: int = 900
    """A partner's node is shown stale (red) when it is behind a list and has not
    reported progress for this long."""
    certificate_warning_days: int = 30
    """Certificates expiring within this many days are flagged."""
    review_threshold: int = 0
    """Partners finding a hash not violating that put it on the review queue (0: 2)."""
    flood_partners: int = 0
    """Partners matching one hash within ``flood_hours`` that put it on the queue (0: 3)."""
    flood_hours: int = 0
    """The flood window in hours (0: 6)."""
    activity_days: int = 30
    """Days of matches and cases shown in charts and counts."""
    hub_timeout_seconds: float = 10.0
    """Deadline of one call to the hub (retried with backoff while it is unavailable)."""
    log_level: str = "info"
    """debug, info, warning or error."""
    log_format: str = "text"
    """text, or json: one object per line."""

    def __post_init__(self) -> None:
        check_log_options(self.log_level, self.log_format)
        if not is_loopback(self.listen):
            raise ConfigError(f"listen {self.listen} is not loopback: the console holds the "
                              "operator's key; reach it from elsewhere with ssh -L")  # fmt: skip
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("set both tls_cert and tls_key, or neither")
        if not 0 < self.session_hours <= 24 * 7:
            raise ConfigError("session_hours must be above 0 and at most 168 (a week)")
        if not 1 <= self.activity_days <= MAX_ACTIVITY_DAYS:
            raise ConfigError(f"activity_days must be 1 to {MAX_ACTIVITY_DAYS}")
        for name in ("stale_seconds", "certificate_warning_days"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        for name in ("review_threshold", "flood_partners", "flood_hours"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 (the hub's default) or more")
        if self.hub_timeout_seconds <= 0:
            raise ConfigError("hub_timeout_seconds must be positive")


def load_console_config(path: Path, overrides: dict[str, Any] | None = None) -> ConsoleConfig:
    return load_config(ConsoleConfig, path, overrides)
