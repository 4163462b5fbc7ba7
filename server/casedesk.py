"""Victims' cases on the hub: opened, read and withdrawn with a PIN, published by policy.

A case is opened by the intake service with its hashes, a number and a PIN
(``hashlist.cases``); the hub keeps only a scrypt hash of the PIN. Per list
the operator sets a ``CasePolicy``: ``auto`` publishes received cases in
batches every ``batch_seconds`` (``publish_due``, a chore of the hub), nobody
looking; ``review`` waits for the operator's ``decide``. The published
version is recorded on the case.

Invariants:

* Every state change runs under one lock, so a batch, a decision and a
  withdrawal never interleave.
* Publishing first, recording second: a crash in between leaves the case
  waiting, and the next batch publishes it again under the same idempotency
  key (the same answer) or finds its hashes listed: never two cases' worth
  of half state. A withdrawal is recorded first (``retracting``), then its
  retraction published, then marked done; ``publish_due`` finishes any
  retraction a crash interrupted.
* A withdrawal (and a rejection) retracts every hash of the case that is listed, that cases
  put on the list (not one the operator had listed before them), and that no
  other open case (received, approved or listed) of the list holds.
* Each PIN check first counts as a wrong one (under a short lock), and a
  right PIN then clears the count: parallel guesses cannot exceed the
  lockout's allowance. An unknown number costs the same scrypt as a wrong PIN
  and gets the same answer.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from collections.abc import Sequence

from hashlist.cases import (
    CasePolicy,
    CaseState,
    CaseView,
    PinAttempts,
    PolicyMode,
    WrongPinError,
    hash_pin,
    parse_case_number,
    parse_pin,
    pin_matches,
)
from hashlist.clock import Clock
from hashlist.errors import AlreadyExistsError, ConflictError, InputError, NotFoundError
from hashlist.signals import TRIVIAL, parse_signal
from server.access import Access
from server.metrics import HubMetrics
from server.publishing import Publisher
from server.store import CaseRecord, HubStore

log = logging.getLogger(__name__)
BATCH_CASES = 1000
"""Cases published in one go (one publication, split into deltas as needed)."""
_SCRYPTS_AT_ONCE = 2  # each takes ~32 MiB and a core for ~50 ms
_WRONG = "the case number or PIN is not right"


class CaseDesk:
    def __init__(
        self, *, store: HubStore, publisher: Publisher, access: Access, clock: Clock,
        metrics: HubMetrics,
    ) -> None:  # fmt: skip
        self.store, self.publisher, self.access, self.clock = store, publisher, access, clock
        self.metrics = metrics
        self._lock = threading.RLock()  # state changes: batches, decisions, withdrawals
        self._pin_lock = threading.Lock()  # the read-modify-write of a lockout state
        self._scrypt = threading.BoundedSemaphore(_SCRYPTS_AT_ONCE)
        self._last_batch: dict[str, int] = {}

    # --- the operator ---

    def set_policy(self, policy: CasePolicy) -> None:
        self.access.list_row(policy.list_id)
        self.store.set_case_policy(policy)
        log.info("cases on %s: %s, batches every %d s, at most %d hashes a case",
                 policy.list_id, policy.mode.value, policy.batch_seconds,
                 policy.max_signals)  # fmt: skip

    def policies(self) -> list[CasePolicy]:
        return self.store.case_policies()

    def show(self, number: str) -> tuple[CaseView, list[str]]:
        record = self._record(number)
        return record.view, sorted(self.store.case_signals([record.view.number]))

    def decide(self, number: str, approve: bool) -> CaseView:
        """Approve (publish now) or reject a case that is received (or approved and
        not yet listed, for a rejection)."""
        with self._lock:
            view = self._record(number).view
            allowed = {CaseState.RECEIVED} | (set() if approve else {CaseState.APPROVED})
            if view.state not in allowed:
                raise ConflictError(f"case {view.number} is {view.state.value}: "
                                    "only a received case can be decided")  # fmt: skip
            if approve:
                self.store.set_case_state([view.number], CaseState.APPROVED)
                self._publish(view.list_id, [view.number])
            else:  # closed like a withdrawal: anything a crash left published is retracted
                self.store.close_case(
                    view.number, retracting=True, state=CaseState.REJECTED, at=self.clock.now()
                )
                self.metrics.cases.labels("rejected").inc()
                self._retract(view.number)
            log.info("case %s %s", view.number, "approved" if approve else "rejected")
            return self._record(view.number).view

    # --- the intake ---

    def open(self, list_id: str, number: str, pin: str, signals: Sequence[str]) -> CaseView:
        policy = self._policy(list_id)
        number, pin = parse_case_number(number), parse_pin(pin)
        canonical = sorted({parse_signal(s).text for s in signals})
        if not canonical:
            raise InputError("a case needs at least one hash")
        if any(s.startswith("vpdq:") for s in canonical):
            raise InputError("a case carries a video's md5 and sha256; a vpdq signal is listed "
                             "by the operator with its frames")  # fmt: skip
        if len(canonical) > policy.max_signals:
            raise InputError(f"a case on {list_id} carries at most {policy.max_signals:,} "
                             f"hashes; this one has {len(canonical):,}")  # fmt: skip
        if trivial := sorted(set(canonical) & TRIVIAL):
            raise InputError(f"{trivial[0]} is the hash of trivially common content (an empty "
                             "file, a blank image): it would match every such upload")  # fmt: skip
        with self._scrypt:
            stored = hash_pin(pin)
        view = CaseView(number, list_id, CaseState.RECEIVED, len(canonical), self.clock.now())
        earlier = self.store.open_case(view, stored, canonical)
        if earlier is not None:
            try:  # through the lockout: Open is no way round it to check a PIN
                same = self._authenticated(number, pin).view
            except WrongPinError as e:
                raise AlreadyExistsError("that case number is taken: open the case with a "
                                         "new one") from e  # fmt: skip
            if same.list_id != list_id:
                raise AlreadyExistsError("that case number is taken: open it with a new one")
            return same  # the same request again: a retry
        self.metrics.cases.labels("opened").inc()
        log.info("case %s opened on %s (%s): %d hashes", number, list_id, policy.mode.value,
                 len(canonical))  # fmt: skip
        return view

    def get(self, number: str, pin: str) -> CaseView:
        return self._authenticated(number, pin).view

    def withdraw(self, number: str, pin: str) -> CaseView:
        number = self._authenticated(number, pin).view.number
        with self._lock:
            view = self._record(number).view
            if view.state is CaseState.WITHDRAWN:
                return view
            # Whatever its state: a case not yet recorded as listed may have been
            # published before a crash, and its hashes are retracted all the same.
            self.store.close_case(number, retracting=True, at=self.clock.now())
            self.metrics.cases.labels("withdrawn").inc()
            log.info("case %s withdrawn (it was %s)", number, view.state.value)
            self._retract(number)
            return self._record(number).view

    # --- the chore ---

    def publish_due(self) -> None:
        """Publish what is due: auto lists' received cases once their batch interval
        has passed, approved cases a crash left unpublished, interrupted retractions."""
        now = self.clock.now()
        with self._lock:
            for policy in self.store.case_policies():
                try:  # one list's failure holds up no other list
                    self._publish_due(policy, now)
                except Exception:
                    log.exception("publishing cases on %s failed; retried next round",
                                  policy.list_id)  # fmt: skip
            for number in self.store.retractions_pending():
                try:
                    self._retract(number)
                except Exception:
                    log.exception("retracting case %s failed; retried next round", number)

    def _publish_due(self, policy: CasePolicy, now: int) -> None:
        waiting = CaseState.RECEIVED if policy.mode is PolicyMode.AUTO else None
        if waiting and now - self._last_batch.get(policy.list_id, 0) >= policy.batch_seconds:
            self._last_batch[policy.list_id] = now
            self._publish_all(policy.list_id, waiting)
        self._publish_all(policy.list_id, CaseState.APPROVED)

    def _publish_all(self, list_id: str, state: CaseState) -> None:
        while numbers := [c.number for c in self.store.cases(list_id, state, limit=BATCH_CASES)]:
            self._publish(list_id, numbers)

    def _publish(self, list_id: str, numbers: Sequence[str]) -> None:
        signals = sorted(self.store.case_signals(numbers))
        # Recorded before publishing (a crash in between only leaves a mark on hashes
        # about to be listed): what cases put on the list, and nothing the operator
        # had listed already, is what their withdrawals may take off it.
        present = self.store.listed(list_id, signals)
        self.store.mark_case_listed(list_id, [s for s in signals if s not in present])
        key = "cases-" + hashlib.sha256("\n".join([list_id, *sorted(numbers)]).encode()).hexdigest()
        result = self.publisher.publish(list_id, signals, [], idempotency_key=key)
        self.store.set_case_state(numbers, CaseState.LISTED, version=result.version)
        self.metrics.cases.labels("listed").inc(len(numbers))
        log.info("%d case(s) listed on %s at version %d (%d hashes new)", len(numbers), list_id,
                 result.version, result.added)  # fmt: skip

    def _retract(self, number: str) -> None:
        view = self._record(number).view
        signals = sorted(self.store.case_signals([number]))
        held = self.store.held_by_open_cases(view.list_id, signals)
        ours = sorted(self.store.case_listed(view.list_id, [s for s in signals if s not in held]))
        listed = sorted(self.store.listed(view.list_id, ours))
        # The version that took its hashes off: 0 for a case that never had any listed.
        version = self.access.list_row(view.list_id).size if view.version else 0
        if listed:
            result = self.publisher.publish(view.list_id, [], listed,
                                            idempotency_key=f"withdraw-{number}")  # fmt: skip
            version = result.version
        self.store.retraction_done(number, version, ours)
        log.info("case %s: %d hash(es) retracted at version %d (%d held by other cases)",
                 number, len(listed), version, len(held))  # fmt: skip

    # --- helpers ---

    def _policy(self, list_id: str) -> CasePolicy:
        for policy in self.store.case_policies():
            if policy.list_id == list_id:
                return policy
        raise ConflictError(f"list {list_id!r} takes no cases: its operator has set no policy")

    def _record(self, number: str) -> CaseRecord:
        record = self.store.case(parse_case_number(number))
        if record is None:
            raise NotFoundError(f"no case {number!r} on this hub")
        return record

    def _pin_ok(self, pin: str, stored: bytes) -> bool:
        with self._scrypt:
            return pin_matches(pin, stored)

    def _authenticated(self, number: str, pin: str) -> CaseRecord:
        number, pin = parse_case_number(number), parse_pin(pin)
        now = self.clock.now()
        with self._pin_lock:
            record = self.store.case(number)
            if record is not None:
                record.attempts.check_open(now)
                after = record.attempts.failed(now)  # counted now; cleared if right
                self.store.set_pin_attempts(number, after)
        if record is None:
            self._pin_ok(pin, _dummy_pin())  # the same work as a wrong PIN, the same answer
            raise WrongPinError(_WRONG)
        if self._pin_ok(pin, record.pin_hash):
            self.store.set_pin_attempts(number, PinAttempts())
            return record
        self.metrics.cases.labels("wrong_pin").inc()
        if after.locked_until > now:
            log.warning("case %s locked until %d after %d wrong PINs in a row", number,
                        after.locked_until, record.attempts.failures + 1)  # fmt: skip
        raise WrongPinError(_WRONG)


@functools.cache
def _dummy_pin() -> bytes:
    return hash_pin("0000000000")
