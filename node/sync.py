"""The node's sync loop (ARCHITECTURE.md, "Node sync, step by step").

For each followed list, on every checkpoint the hub pushes (and once per
list at each (re)connection):

1. verify the signed checkpoint against the trust root;
2. if it is ahead: bootstrap from a snapshot when the replica is empty or more
   than ``snapshot_threshold_leaves`` behind, otherwise stream the missing
   leaves; either way the core verifies every byte while the deltas are
   written inside one SQLite transaction, committed only after the new root
   (or the snapshot's digest) checked out;
3. on a verification failure keep the last good state and record an alarm
   naming the attack; on equivocation keep both notes as evidence and stop
   applying that list for good (an operator must look);
4. reconnect with exponential backoff and full jitter when the hub goes away.

The hub is reached only through the ``HubLog`` interface, the clock through
``Clock``: tests substitute either.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Protocol

from hashlist.checkpoint import verify_checkpoint
from hashlist.clock import Clock
from hashlist.errors import (
    BadSignatureError,
    EquivocationError,
    HashlistError,
    MalformedDeltaError,
    QuorumError,
    UnavailableError,
    VerificationError,
)
from hashlist.retry import Backoff
from hashlist.rotation import walk
from hashlist.snapshot import SnapshotHeader, SnapshotVerifier
from hashlist.trustroot import TrustRoot
from hashlist.verify import StepVerifier, TrustedState
from node.config import NodeConfig, with_local_policy
from node.store import ReplicaStore

log = logging.getLogger(__name__)


class HubLog(Protocol):
    """What the node needs from the hub (``hashlist.client.HubClient`` provides it)."""

    def checkpoint(self, list_id: str) -> bytes: ...

    def leaves(
        self, list_id: str, start: int, end: int
    ) -> Iterator[tuple[int, Sequence[bytes]]]: ...

    def snapshot(
        self, list_id: str, from_size: int
    ) -> Iterator[SnapshotHeader | tuple[Sequence[str], Sequence[int]]]: ...

    def subscribe(self, list_ids: Sequence[str]) -> Subscription: ...

    def trust_root(self, version: int) -> bytes | None: ...


class Subscription(Protocol):
    def __iter__(self) -> Iterator[tuple[str, bytes]]: ...

    def cancel(self) -> None: ...


class Syncer:
    def __init__(
        self, config: NodeConfig, trust: TrustRoot, store: ReplicaStore, hub: HubLog, clock: Clock
    ) -> None:
        self.config = config
        self.trust = trust
        self.store = store
        self.hub = hub
        self.clock = clock
        self.stop = threading.Event()
        self._backoff = Backoff(config.reconnect_base_seconds, config.reconnect_cap_seconds)
        self._subscription: Subscription | None = None
        self._lock = threading.Lock()

    def sync(self, list_id: str, note: bytes | None = None, *, retry: bool = True) -> bool:
        """One step for one list; returns whether the verified state moved or refreshed.

        Verification failures are recorded (alarm, evidence) and not raised;
        transport failures are raised for the caller's reconnect loop. A
        checkpoint no trusted key signed first makes the node look for a
        rotated trust root, then tries once more.
        """
        record = self.store.record(list_id)
        if record.halted:
            return False
        try:
            if note is None:
                note = self.hub.checkpoint(list_id)
            seen = verify_checkpoint(note, self.trust, self.trust.origin(list_id)).checkpoint.size
            self.store.set_seen(list_id, seen)
            state = record.state
            behind = seen - state.size
            if behind > 0 and (state.size == 0 or behind > self.config.snapshot_threshold_leaves):
                self._bootstrap(state)
            else:
                self._step(state, note)
        except EquivocationError as e:
            log.critical("list %s: EQUIVOCATION, halting it and keeping evidence: %s", list_id, e)
            self.store.halt(
                list_id,
                kind=type(e).__name__,
                message=str(e),
                trusted=e.trusted_note,
                conflicting=e.conflicting_note,
                now=self.clock.now(),
            )
            return False
        except BadSignatureError as e:
            if retry and self._refresh_trust():
                return self.sync(list_id, note, retry=False)
            return self._refuse(list_id, record.state.size, e)
        except VerificationError as e:
            return self._refuse(list_id, record.state.size, e)
        return True

    def _refuse(self, list_id: str, size: int, e: VerificationError) -> bool:
        alarm = f"{type(e).__name__}: {e}"
        # Too few witness cosignatures is also what a new checkpoint looks like
        # until its witnesses answer: an alarm in status, not an error in the log.
        level = logging.INFO if isinstance(e, QuorumError) else logging.ERROR
        log.log(level, "list %s: not applying what the hub sent, keeping version %d: %s",
                list_id, size, alarm)  # fmt: skip
        self.store.set_alarm(list_id, alarm)
        return False

    def refresh_trust(self) -> bool:
        """Follow trust-root rotations the hub serves; True if the trust root moved.

        Each accepted version is kept in the replica before it is used, so a
        restart (``effective_trust``) re-walks to the same version.
        """
        trust, accepted = walk(self.trust, self.hub.trust_root, now=self.clock.now())
        if not accepted:
            return False
        self.store.add_trust_roots(
            [(self.trust.version + i + 1, s) for i, s in enumerate(accepted)]
        )
        self.trust = with_local_policy(trust, self.config)
        log.warning("trust root rotated to version %d: log keys %s", trust.version,
                    ", ".join(v.name for v in trust.log_keys))  # fmt: skip
        return True

    def _refresh_trust(self) -> bool:
        try:
            return self.refresh_trust()
        except VerificationError as e:
            log.error("refused a new trust-root version: %s: %s", type(e).__name__, e)
            return False

    def _step(self, state: TrustedState, note: bytes) -> None:
        now = self.clock.now()
        step = StepVerifier(
            state, note, trust=self.trust, now=now, max_delta_bytes=self.config.max_delta_bytes
        )
        with self.store.step(state.list_id, now) as tx:
            if step.target_size > state.size:
                for start, leaves in self.hub.leaves(state.list_id, state.size, step.target_size):
                    if start != step.next_index:
                        raise MalformedDeltaError(
                            f"hub sent leaves from {start}, expected {step.next_index}"
                        )
                    for leaf in leaves:
                        tx.apply(step.feed(leaf, tx.listed))
            new = step.finish()
            tx.commit(new)
        if new.size > state.size:
            digest = new.state_digest.hex()[:16]
            log.info("list %s: verified and applied versions %d..%d, digest %s",
                     state.list_id, state.size + 1, new.size, digest)  # fmt: skip

    def _bootstrap(self, state: TrustedState) -> None:
        now = self.clock.now()
        chunks = self.hub.snapshot(state.list_id, state.size)
        header = next(chunks, None)
        if not isinstance(header, SnapshotHeader):
            raise MalformedDeltaError("snapshot did not start with its header")
        verifier = SnapshotVerifier(
            state, header, trust=self.trust, now=now, max_delta_bytes=self.config.max_delta_bytes
        )
        with self.store.replace(state.list_id, now) as tx:
            for chunk in chunks:
                if isinstance(chunk, SnapshotHeader):
                    raise MalformedDeltaError("snapshot sent a second header")
                signals, versions = chunk
                if len(versions) != len(signals) or any(
                    not 0 < v <= verifier.size for v in versions
                ):
                    raise MalformedDeltaError(
                        "snapshot signal versions are missing or out of range"
                    )
                tx.insert(verifier.feed(signals), versions)
            new = verifier.finish()
            tx.commit(new)
        log.info("list %s: bootstrapped from a verified snapshot at version %d (%d hashes)",
                 state.list_id, new.size, header.count)  # fmt: skip

    def run(self) -> None:
        """Follow every list until ``stop`` is set, reconnecting with backoff."""
        lists = list(self.config.lists)
        attempt = 0
        while not self.stop.is_set():
            try:
                self._refresh_trust()
                for list_id in lists:
                    self.sync(list_id)
                with self._lock:
                    if self.stop.is_set():
                        break
                    self._subscription = stream = self.hub.subscribe(lists)
                for list_id, note in stream:
                    attempt = 0
                    if self.stop.is_set():
                        break
                    if list_id in lists:
                        self.sync(list_id, note)
                if not self.stop.is_set():
                    raise UnavailableError("subscription ended")
            except HashlistError as e:
                if self.stop.is_set():
                    break
                delay = self._backoff.delay(attempt)
                attempt += 1
                log.warning("hub %s: %s; reconnecting in %.1f s", self.config.hub, e, delay)
                self.stop.wait(delay)

    def shutdown(self) -> None:
        """Ask ``run`` to return soon (from a signal handler or another thread)."""
        with self._lock:
            self.stop.set()
            if self._subscription is not None:
                self._subscription.cancel()
