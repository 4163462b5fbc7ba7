"""What every served process shares: loading its signing keys, stopping on a signal."""

from __future__ import annotations

import logging
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
