"""The audit trail: every operator action, recorded by the hub itself.

Each action the operator takes (from the CLI or the console: both call the same
RPCs) runs through ``AuditTrail.run``, which records who (the name in the
operator's certificate), what, on what and why *before* doing it, then the
outcome. Recording in the hub, not in a client, means no client can act
without leaving a row.

Invariants:

* The row is written before the action: a crash in between leaves the row
  ``started``, which the console shows as "outcome unknown", never a silent gap.
* The outcome recorded for a failure is the public message the caller was told;
  details stay in the log.
* A reason is validated (``hashlist.oversight.validate_reason``) before anything
  is done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from hashlist.clock import Clock
from hashlist.errors import HashlistError
from hashlist.identity import Identity
from hashlist.oversight import ActionRecord, validate_reason
from hashlist.rpc import public_message, public_status
from server.access import Access
from server.store import HubStore

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_PAGE = 500
_INTERNAL = "an internal error (the hub's log has the details)"


class AuditTrail:
    def __init__(self, *, store: HubStore, access: Access, clock: Clock) -> None:
        self.store, self.access, self.clock = store, access, clock

    def run(
        self, who: Identity, action: str, target: str, reason: str, do: Callable[[], T],
        *, describe: Callable[[T], str] = str, reason_required: bool = False,
    ) -> T:  # fmt: skip
        """Authorize ``who`` as the operator, record the action, do it, record how it
        ended; returns what ``do`` returned."""
        self.access.authorize_admin(who)
        reason = validate_reason(reason, required=reason_required)
        # The target quotes the request (names, serials, a hash): bounded, one printable line.
        target = "".join(c if c.isprintable() else "?" for c in target[:300])
        action_id = self.store.record_action(self.clock.now(), who.name, action, target, reason)
        try:
            result = do()
        except HashlistError as e:
            told = public_message(e, "") if public_status(e).detail_is_public else _INTERNAL
            self.store.finish_action(action_id, f"failed: {told}")
            raise
        except Exception:
            self.store.finish_action(action_id, f"failed: {_INTERNAL}")
            raise
        outcome = describe(result)
        self.store.finish_action(action_id, f"done: {outcome}")
        log.info("operator action %d by %s: %s %s: %s", action_id, who.name, action, target,
                 outcome)  # fmt: skip
        return result

    def actions(self, who: Identity, before: int = 0, limit: int = 100) -> list[ActionRecord]:
        self.access.authorize_admin(who)
        return self.store.actions(before, min(max(limit, 1), MAX_PAGE))
