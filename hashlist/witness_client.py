"""Talking to a witness over HTTPS: ``add_checkpoint`` for the hub, ``latest`` for auditors.

Every call has a timeout; transport failures and 5xx answers are retried
with full-jitter backoff, then raised as ``UnavailableError``. A witness's
refusals are raised as the same typed errors ``hashlist.witness`` uses, so a
409 arrives as ``WitnessConflictError`` carrying the witness's size. Answers
are read up to a fixed limit: a witness cannot make its client buffer more.
"""

from __future__ import annotations

import logging
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from hashlist.errors import (
    BadProofError,
    BadSignatureError,
    HashlistError,
    InputError,
    NotFoundError,
    UnavailableError,
    WitnessConflictError,
)
from hashlist.retry import Backoff
from hashlist.witness_protocol import AddCheckpoint

log = logging.getLogger(__name__)
_MAX_ANSWER_BYTES = 64 * 1024
_REFUSALS: dict[int, type[HashlistError]] = {
    400: InputError,
    403: BadSignatureError,
    404: NotFoundError,
    413: InputError,
    422: BadProofError,
}


class WitnessClient:
    def __init__(
        self,
        url: str,
        ca: Sequence[Path] = (),
        *,
        timeout: float = 10.0,
        backoff: Backoff | None = None,
    ) -> None:
        """``ca``: CA files for the witness's certificate; empty: the system's store."""
        if not url.startswith("https://"):
            raise InputError(f"witness address {url!r} must be an https:// URL")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.backoff = backoff or Backoff(base=0.2, cap=5.0, attempts=4)
        self._tls = ssl.create_default_context(cafile=str(ca[0]) if ca else None)
        for extra in ca[1:]:
            self._tls.load_verify_locations(cafile=str(extra))

    def add_checkpoint(self, request: AddCheckpoint) -> bytes:
        """The witness's cosignature line for ``request.note``."""
        status, body = self._call("POST", "/add-checkpoint", request.encode())
        if status == 409:
            try:
                size = int(body.decode().strip())
            except ValueError as e:
                raise UnavailableError(f"witness {self.url} sent a 409 without a size") from e
            raise WitnessConflictError(f"witness {self.url} is at size {size}", size=size)
        if status != 200:
            message = body.decode("utf-8", "replace").strip()[:500]
            raise _REFUSALS.get(status, UnavailableError)(
                f"witness {self.url} refused the checkpoint ({status}): {message}"
            )
        return body

    def latest(self, origin: str) -> bytes | None:
        """The newest note the witness cosigned for ``origin`` (None: none yet)."""
        status, body = self._call("GET", "/checkpoint/" + urllib.parse.quote(origin, safe=""))
        if status == 404:
            return None
        if status != 200:
            raise UnavailableError(f"witness {self.url} answered {status} for {origin}")
        return body

    def _call(self, method: str, path: str, data: bytes | None = None) -> tuple[int, bytes]:
        attempt = 0
        while True:
            # The scheme is checked to be https:// in __init__.
            request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
            try:
                with urllib.request.urlopen(  # noqa: S310
                    request, timeout=self.timeout, context=self._tls
                ) as answer:
                    return answer.status, answer.read(_MAX_ANSWER_BYTES)
            except urllib.error.HTTPError as e:
                if e.code < 500:
                    return e.code, e.read(_MAX_ANSWER_BYTES)
                problem = f"HTTP {e.code}"
            except (urllib.error.URLError, OSError) as e:
                problem = str(getattr(e, "reason", e))
            attempt += 1
            if attempt >= self.backoff.attempts:
                raise UnavailableError(f"witness {self.url} unreachable: {problem}")
            delay = self.backoff.delay(attempt)
            log.info("witness %s: %s; retrying in %.1f s", self.url, problem, delay)
            time.sleep(delay)
