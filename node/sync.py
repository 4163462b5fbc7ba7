"""One verified step of the node's sync (ARCHITECTURE.md, "Node sync, step by step").

For each followed list, on every checkpoint the hub pushes (and once per
list at each (re)connection):

1. verify the signed checkpoint against the trust root, once;
2. if it is ahead: download the missing leaves and verify each of them, in
   memory and with no write transaction open (a step over ``max_step_bytes``
   is caught up from a snapshot instead); a replica that is empty or more than
   ``snapshot_threshold_leaves`` behind is bootstrapped from a snapshot,
   downloaded and verified into a spill file first. With ``tiles_url`` (the
   ``HubLog`` is then ``node.tiles_log.TilesLog``) such a catch-up replays the
   leaves from the tiles when they are few or the snapshot is out of reach,
   and a checkpoint the tiles served (``SourcedLog`` says so) that is validly
   signed but older than the verified state is a lagging copy, not a
   rollback. Whatever the hub sends, pushed or asked for (also when it stands
   in for tiles that failed), is never excused: older is a ``RollbackError``;
   at the same size a different root is equivocation, from either source;
3. only then apply and commit in one short SQLite transaction, so an upload
   check never waits behind the network;
4. on a verification failure keep the last good state and record an alarm
   naming the attack; on equivocation keep both notes as evidence and stop
   applying that list for good (an operator must look). A newer checkpoint
   still waiting for its witnesses' cosignatures is pending, not an alarm;
5. the long-running loop around these steps (reconnecting, refused lists,
   repairs, never ending on its own) is ``node.follow``.

The hub is reached only through the ``HubLog`` interface and the clock
through ``Clock``: tests substitute either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol, runtime_checkable

from hashlist.checkpoint import VerifiedCheckpoint, verify_checkpoint
from hashlist.clock import Clock
from hashlist.delta import Delta
from hashlist.errors import (
    BadWitnessError,
    EquivocationError,
    MalformedDeltaError,
    QuorumError,
    ResourceExhaustedError,
    ServiceError,
    UnavailableError,
    UnknownKeyError,
    VerificationError,
)
from hashlist.rotation import walk
from hashlist.snapshot import SnapshotHeader, SnapshotVerifier
from hashlist.trustroot import TrustRoot
from hashlist.verify import PendingChanges, StepVerifier, TrustedState, ignored_witnesses
from node.config import NodeConfig, with_local_policy
from node.metrics import NodeMetrics
from node.spill import Spill
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
    ) -> Iterator[SnapshotHeader | tuple[Sequence[str], Sequence[int], Sequence[bytes]]]: ...

    def subscribe(self, list_ids: Sequence[str]) -> Subscription: ...

    def trust_root(self, version: int) -> bytes | None: ...

    def report_progress(self, list_id: str, version: int) -> None: ...


class Subscription(Protocol):
    def __iter__(self) -> Iterator[tuple[str, bytes]]: ...

    def cancel(self) -> None: ...


@runtime_checkable
class SourcedLog(Protocol):
    """A ``HubLog`` whose checkpoint may come from elsewhere (``node.tiles_log.TilesLog``)."""

    def checkpoint_with_source(self, list_id: str) -> tuple[bytes, ServiceError | None]:
        """The note, and ``None`` if the tiles served it; else why they did not (and the
        hub served it instead)."""
        ...


VERIFIED, BEHIND, PENDING = "verified", "behind", "pending"


@dataclass(frozen=True)
class CheckpointRead:
    """Where the checkpoint of a list's last sync came from, and what became of it."""

    source: str  # "tiles", "hub" (asked for), or "push" (handed to ``sync``)
    outcome: str  # VERIFIED, BEHIND (an older copy from the tiles), PENDING, or the refusal
    tiles_problem: str = ""  # why the tiles did not serve it, when the hub did instead

    @property
    def tiles_verified(self) -> bool:
        """The tiles served the checkpoint and it verified (applied, or already had)."""
        return self.source == "tiles" and self.outcome == VERIFIED


class _StepTooLargeError(Exception):
    """More leaf bytes than ``max_step_bytes``: catch up from a snapshot instead."""


class Syncer:
    def __init__(
        self, config: NodeConfig, trust: TrustRoot, store: ReplicaStore, hub: HubLog, clock: Clock
    ) -> None:
        self.config = config
        self.trust = trust
        self.store = store
        self.hub = hub
        self.clock = clock
        self.metrics = NodeMetrics()  # the daemon's, once it serves them
        # Per list, the last sync's checkpoint (none while its sync failed in transport).
        self.last_read: dict[str, CheckpointRead] = {}

    # --- one list, one step ---

    def sync(self, list_id: str, note: bytes | None = None) -> bool:
        """One step for one list; returns whether the verified state moved or refreshed.

        ``note`` is a checkpoint the hub pushed; without it the checkpoint is asked
        for. Verification failures are recorded (alarm, evidence, ``last_read``) and
        not raised; transport failures and refusals are raised for the caller's loop.
        """
        self.last_read.pop(list_id, None)
        record = self.store.record(list_id)
        if record.halted:
            return False
        source, tiles_problem = "push", ""
        if note is None:
            note, source, tiles_problem = self._checkpoint(list_id)
        # Only a copy the tiles served may be behind without the hub going back.
        outcome = self._verify(record.state, note, mirrored=source == "tiles")
        self.last_read[list_id] = CheckpointRead(source, outcome, tiles_problem)
        return outcome == VERIFIED

    def _checkpoint(self, list_id: str) -> tuple[bytes, str, str]:
        """The list's checkpoint note, where it came from, and why the tiles did not
        serve it when the hub did instead."""
        if isinstance(self.hub, SourcedLog):
            note, problem = self.hub.checkpoint_with_source(list_id)
            if problem is None:
                return note, "tiles", ""
            return note, "hub", f"{type(problem).__name__}: {problem}"
        return self.hub.checkpoint(list_id), "hub", ""

    def _verify(
        self, state: TrustedState, note: bytes, *, mirrored: bool, retry: bool = True
    ) -> str:
        """Verify and apply ``note``: the outcome. A checkpoint signed by no key the trust
        root knows first makes the node look for a rotated trust root, then try once more.
        """
        try:
            return VERIFIED if self._advance(state, note, mirrored=mirrored) else BEHIND
        except VerificationError as e:
            if isinstance(e, UnknownKeyError) and retry and self.refresh_trust_safely():
                return self._verify(state, note, mirrored=mirrored, retry=False)
            if isinstance(e, QuorumError):  # pending is not a failure
                self._not_applied(state.list_id, state.size, note, e)
                return PENDING
            self.metrics.verification_failures.labels(state.list_id, type(e).__name__).inc()
            self._not_applied(state.list_id, state.size, note, e)
            return f"{type(e).__name__}: {e}"

    def _advance(self, state: TrustedState, note: bytes, *, mirrored: bool = False) -> bool:
        verified = verify_checkpoint(note, self.trust, self.trust.origin(state.list_id))
        if mirrored and verified.checkpoint.size < state.size:
            # Validly signed (verified just above) but older than the state: a lagging
            # copy, not the hub going back. At the same size it is checked like any
            # other (a different root is equivocation); what the hub sends is never
            # excused (it would be a rollback).
            log.info("list %s: the tiles serve version %d, behind the verified %d: nothing new",
                     state.list_id, verified.checkpoint.size, state.size)  # fmt: skip
            return False
        self.store.set_seen(state.list_id, verified.checkpoint.size)
        behind = verified.checkpoint.size - state.size
        started = time.monotonic()
        if behind > 0 and (state.size == 0 or behind > self.config.snapshot_threshold_leaves):
            self._catch_up(state, verified, behind)
        else:
            try:
                self._step(state, verified)
            except _StepTooLargeError:
                log.info("list %s: more than %d bytes behind; catching up from a snapshot",
                         state.list_id, self.config.max_step_bytes)  # fmt: skip
                self._bootstrap(state, verified)
        if behind > 0:
            self.metrics.apply_seconds.observe(time.monotonic() - started)
        # Applied on the strength of the quorum; a witness that was not counted is
        # still something to look at.
        if ignored := ignored_witnesses(verified, self.trust, self.clock.now()):
            alarm = f"{BadWitnessError.__name__}: not counted: {'; '.join(ignored)}"
            log.warning("list %s: %s", state.list_id, alarm)
            self.store.set_alarm(state.list_id, alarm)
        return True

    def _catch_up(self, state: TrustedState, verified: VerifiedCheckpoint, behind: int) -> None:
        """Empty, or far behind: a snapshot from the hub, as ever. With tiles, a short log
        is replayed from them instead, and so is a long one when the hub's snapshot is
        out of reach (as long as it fits ``max_step_bytes``)."""
        tiles = bool(self.config.tiles_url)
        if tiles and behind <= self.config.snapshot_threshold_leaves:
            try:
                self._step(state, verified)
                self._caught_up(state, "replay", verified.checkpoint.size)
                return
            except _StepTooLargeError:
                pass  # a few very large leaves: the snapshot is the way
        try:
            self._bootstrap(state, verified)
            self._caught_up(state, "snapshot", verified.checkpoint.size)
        except (UnavailableError, ResourceExhaustedError) as e:
            if not tiles:
                raise
            log.warning("list %s: the hub's snapshot is out of reach (%s); replaying %d "
                        "leaves from the tiles", state.list_id, e, behind)  # fmt: skip
            try:
                self._step(state, verified)
            except _StepTooLargeError:
                raise e from None  # too far to replay in memory: the snapshot it must be
            self._caught_up(state, "replay", verified.checkpoint.size)

    def _caught_up(self, state: TrustedState, source: str, size: int) -> None:
        self.metrics.catch_ups.labels(state.list_id, source).inc()
        if source == "replay":
            log.info("list %s: caught up by replaying versions %d..%d from the tiles",
                     state.list_id, state.size + 1, size)  # fmt: skip

    def _not_applied(
        self, list_id: str, size: int, note: bytes | None, e: VerificationError
    ) -> None:
        if isinstance(e, EquivocationError):
            log.critical("list %s: EQUIVOCATION, halting it and keeping evidence: %s", list_id, e)
            self.store.halt(list_id, kind=type(e).__name__, message=str(e),
                            trusted=e.trusted_note, conflicting=e.conflicting_note,
                            now=self.clock.now())  # fmt: skip
        elif isinstance(e, QuorumError):
            # What every new checkpoint looks like until its witnesses answer: pending.
            log.info("list %s: version %s is pending its witnesses' cosignatures (%s); "
                     "keeping version %d", list_id, _size_of(note), e, size)  # fmt: skip
        else:
            alarm = f"{type(e).__name__}: {e}"
            log.error("list %s: not applying what the hub sent, keeping version %d: %s",
                      list_id, size, alarm)  # fmt: skip
            self.store.set_alarm(list_id, alarm)

    def _step(self, state: TrustedState, verified: VerifiedCheckpoint) -> None:
        now = self.clock.now()
        step = StepVerifier(state, verified, trust=self.trust, now=now,
                            max_delta_bytes=self.config.max_delta_bytes)  # fmt: skip
        deltas = self._download(state, step) if step.target_size > state.size else []
        new = step.finish()
        with self.store.step(state.list_id, now) as tx:  # no network inside
            for delta in deltas:
                tx.apply(delta)
            tx.commit(new)
        if new.size > state.size:
            log.info("list %s: verified and applied versions %d..%d, digest %s", state.list_id,
                     state.size + 1, new.size, new.state_digest.hex()[:16])  # fmt: skip

    def _download(self, state: TrustedState, step: StepVerifier) -> list[Delta]:
        """Every leaf up to the checkpoint, verified against the replica as it will be."""
        pending = PendingChanges(partial(self.store.listed, state.list_id))
        deltas, used = [], 0
        for start, leaves in self.hub.leaves(state.list_id, state.size, step.target_size):
            if start != step.next_index:
                raise MalformedDeltaError(
                    f"hub sent leaves from {start}, expected {step.next_index}"
                )
            for leaf in leaves:
                used += len(leaf)
                if used > self.config.max_step_bytes:
                    raise _StepTooLargeError
                delta = step.feed(leaf, pending.listed)
                pending.apply(delta)
                deltas.append(delta)
        return deltas

    def _bootstrap(self, state: TrustedState, verified: VerifiedCheckpoint | None = None) -> None:
        now = self.clock.now()
        chunks = self.hub.snapshot(state.list_id, state.size)
        header = next(chunks, None)
        if not isinstance(header, SnapshotHeader):
            raise MalformedDeltaError("snapshot did not start with its header")
        verifier = SnapshotVerifier(state, header, trust=self.trust, now=now, verified=verified,
                                    max_delta_bytes=self.config.max_delta_bytes)  # fmt: skip
        started, logged = time.monotonic(), time.monotonic()
        with Spill(self.config.database) as spill:
            for chunk in chunks:
                if isinstance(chunk, SnapshotHeader):
                    raise MalformedDeltaError("snapshot sent a second header")
                signals, versions, videos = chunk
                if len(versions) != len(signals) or any(
                    not 0 < v <= verifier.size for v in versions
                ):
                    raise MalformedDeltaError(
                        "snapshot signal versions are missing or out of range"
                    )
                typed, frames = verifier.feed(signals, videos)
                spill.write(typed, versions, frames)
                if time.monotonic() - logged >= 5:
                    logged = time.monotonic()
                    log.info("list %s: snapshot %d of %d hashes verified (%.0f/s)", state.list_id,
                             spill.rows, header.count, spill.rows / (logged - started))  # fmt: skip
            new = verifier.finish()
            with self.store.replace(state.list_id, now) as tx:  # no network inside
                written = 0
                for signals, versions, frames in spill.batches():
                    tx.insert(signals, versions, frames)
                    written += len(signals)
                    if time.monotonic() - logged >= 5:
                        logged = time.monotonic()
                        log.info("list %s: snapshot %d of %d hashes written", state.list_id,
                                 written, header.count)  # fmt: skip
                tx.commit(new)
        log.info("list %s: bootstrapped from a verified snapshot at version %d (%d hashes)",
                 state.list_id, new.size, header.count)  # fmt: skip

    # --- trust-root rotation ---

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

    def refresh_trust_safely(self) -> bool:
        """``refresh_trust``, with a refused version logged instead of raised."""
        try:
            return self.refresh_trust()
        except VerificationError as e:
            log.error("refused a new trust-root version: %s: %s", type(e).__name__, e)
            return False

    def repair(self, list_id: str) -> None:
        """Re-bootstrap a list whose rows are corrupt; its commit clears the alarm."""
        state = self.store.state(list_id)
        if state.size:
            self._bootstrap(state)


def _size_of(note: bytes | None) -> str:
    lines = (note or b"").split(b"\n")
    return lines[1].decode("ascii", "replace") if len(lines) > 1 else "?"
