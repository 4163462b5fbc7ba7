"""The retry policy every network client shares: exponential backoff with full jitter.

Used by the hub client (unary calls), the node's sync loop and outbox sender
(reconnects), and the tlog-witness client. Kept apart from any transport so
that a module needing only the policy imports no gRPC.

Invariant: ``delay(attempt)`` is drawn from ``U(0, min(cap, base * 2**attempt))``
("full jitter", as in AWS's architecture note on backoff), so many clients
that lost the same peer at once do not come back at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: sleep U(0, min(cap, base * 2^attempt))."""

    base: float = 0.2
    cap: float = 10.0
    attempts: int = 5

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2**attempt))  # noqa: S311
