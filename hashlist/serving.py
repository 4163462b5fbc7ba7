"""What every served process shares: loading its signing keys, stopping on a signal,
fitting its connections in the file-descriptor limit."""

from __future__ import annotations

import logging
import resource
import signal
import threading
from pathlib import Path

from hashlist.errors import ConfigError, KeyFormatError
from hashlist.note import Signer

log = logging.getLogger(__name__)


def load_signer(path: Path, sig_type: int, what: str) -> Signer:
    try:
        signer = Signer.from_string(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read {what} {path}: {e.strerror}") from e
    except KeyFormatError as e:
        raise ConfigError(f"{what} {path}: {e}") from e
    if signer.sig_type != sig_type:
        raise ConfigError(
            f"{what} {path} has signature type {signer.sig_type}, expected {sig_type}"
        )
    return signer


def stop_on_signal() -> threading.Event:
    """An event set on SIGTERM or SIGINT: what a served process waits on to stop gracefully."""
    done = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return done


def fit_connections(wanted: int, reserve: int, fd_limit: int) -> int:
    """How many connections to accept at once: ``wanted``, or fewer when the
    file-descriptor limit would leave less than ``reserve`` descriptors for the
    process's own files and outbound calls (its database, its witnesses)."""
    cap = min(wanted, fd_limit - reserve)
    if cap < 16:
        raise ConfigError(
            f"the file-descriptor limit {fd_limit} leaves no room for connections once "
            f"{reserve} are kept for the process's own use: raise it (ulimit -n, "
            "LimitNOFILE= in a systemd unit) or lower max_workers"
        )
    if cap < wanted:
        log.warning(
            "accepting at most %d connections, not max_connections=%d: the "
            "file-descriptor limit is %d and %d are kept for the hub's own use",
            cap, wanted, fd_limit, reserve,
        )  # fmt: skip
    return cap


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft file-descriptor limit toward ``wanted`` (never past the hard
    limit, never lower); returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft
