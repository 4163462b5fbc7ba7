"""Pure verification of a list's next step: trusted state in, new trusted state out.

``verify_update`` is the whole of what a node believes. Given the state it
verified last, a new signed checkpoint, the leaves between the two and the
current time (passed in), it returns the next ``TrustedState`` together with
the decoded deltas to apply, or raises exactly one ``VerificationError``:

====================  ======================================================
``BadSignatureError`` a known key's signature fails, or (``UnknownKeyError``)
                      no log key signed
``QuorumError``       too few witness cosignatures
``OriginMismatchError`` the checkpoint names another log
``RollbackError``     the checkpoint is smaller than the trusted state
``EquivocationError`` same size, other root: carries both signed notes
``StaleCheckpointError`` newest cosignature older than the trust root allows
``FutureTimestampError`` a cosignature dated beyond the allowed clock skew
``MalformedDeltaError`` a leaf is not canonical, (``OversizedDeltaError``) is
                      over its format version's bound or the caller's limit,
                      or (``DeltaConflictError``) adds a listed hash, removes
                      an unlisted one, has the wrong list id or version, or is
                      a v1 leaf after a v2 leaf of the same step
``DigestMismatchError`` the LtHash after a delta differs from the one it claims
``BadProofError``     the leaves do not hash to the checkpoint's root
====================  ======================================================

Leaves of format version 1 (written before the cut-over to version 2) verify
like version 2 ones. A log goes from v1 to v2 once and never back; a step
refuses a v1 leaf after a v2 leaf it has verified, but ``TrustedState`` does
not record the last leaf's version, so the order across steps is checked only
by a verifier that replays the whole log in one step (the auditor's
``replay_history``). Safety does not depend on it: each leaf of either version
carries the complete state digest, and only its size bound differs.

Checks run cheapest first and the signature before anything is parsed. The
function reads nothing but its arguments: membership of the replica *before*
the update is asked through ``listed``, a callable the caller backs with its
store (a SQLite query on a node, a ``frozenset`` in tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, replace

from hashlist.checkpoint import Checkpoint, VerifiedCheckpoint, verify_checkpoint
from hashlist.delta import DEFAULT_MAX_DELTA_BYTES, Delta, decode_delta
from hashlist.errors import (
    BadProofError,
    DeltaConflictError,
    DigestMismatchError,
    EquivocationError,
    FutureTimestampError,
    QuorumError,
    RollbackError,
    StaleCheckpointError,
)
from hashlist.lthash import EMPTY_DIGEST, LtHash16
from hashlist.merkle import EMPTY_ROOT, CompactRange, hash_leaf
from hashlist.signals import SignalText
from hashlist.trustroot import TrustRoot

Listed = Callable[[Sequence[SignalText]], Set[SignalText]]
"""Given signals, return those of them present in the replica."""


@dataclass(frozen=True, slots=True)
class TrustedState:
    """Everything a node persists about a list after each verified step."""

    list_id: str
    size: int
    root: bytes
    compact_range: CompactRange
    lthash: bytes  # LtHash16 lanes of the replica's set, 2048 bytes
    state_digest: bytes
    cosigned_at: int  # newest valid cosignature time seen, 0 if none yet
    checkpoint_note: bytes  # signed note of the checkpoint at `size`; b"" at size 0

    @classmethod
    def empty(cls, list_id: str) -> TrustedState:
        return cls(
            list_id, 0, EMPTY_ROOT, CompactRange(), LtHash16().to_bytes(), EMPTY_DIGEST, 0, b""
        )


@dataclass(frozen=True, slots=True)
class VerifiedUpdate:
    state: TrustedState
    deltas: tuple[Delta, ...]  # to apply to the replica, in order
    checkpoint: VerifiedCheckpoint


class StepVerifier:
    """Verifies one step leaf by leaf, so memory stays bounded by one leaf.

    ``checkpoint`` is what ``verify_checkpoint`` returned for the signed note
    (a checkpoint is verified once, by the caller); its history and time are
    checked against ``state`` here. ``feed`` each leaf in order
    and apply the returned delta to the replica before feeding the next (so
    ``listed`` sees it); ``finish`` checks the root and returns the new state.
    Nothing is trusted until ``finish`` returns: a caller applies deltas
    inside one transaction and commits only then.
    """

    def __init__(
        self,
        state: TrustedState,
        checkpoint: VerifiedCheckpoint,
        *,
        trust: TrustRoot,
        now: int,
        max_delta_bytes: int = DEFAULT_MAX_DELTA_BYTES,
    ) -> None:
        self.checkpoint = checkpoint
        note = checkpoint.note
        check_history(state, checkpoint.checkpoint, note)
        self._cosigned_at = check_time(state, self.checkpoint, trust, now)
        self._state = state
        self._note = note
        self._max_delta_bytes = max_delta_bytes
        self._lthash = LtHash16(state.lthash)
        self._compact = state.compact_range
        self._digest = state.state_digest
        self._format_version = 1  # the newest format version fed so far

    @property
    def target_size(self) -> int:
        return self.checkpoint.checkpoint.size

    @property
    def next_index(self) -> int:
        return self._compact.size

    def feed(self, leaf: bytes, listed: Listed) -> Delta:
        """Verify the next leaf against the set as ``listed`` reports it now."""
        version = self._compact.size + 1
        if version > self.target_size:
            raise BadProofError(f"leaf {version} is beyond the checkpoint size {self.target_size}")
        delta = decode_delta(leaf, max_bytes=self._max_delta_bytes)
        if delta.format_version < self._format_version:
            raise DeltaConflictError(
                f"leaf {version} is a v{delta.format_version} delta after a "
                f"v{self._format_version} one: a log's format version never goes back"
            )
        self._format_version = delta.format_version
        _check_applies(delta, self._state.list_id, version, listed)
        self._lthash.update(delta.additions, delta.removals)
        digest = self._lthash.digest()
        if digest != delta.state_digest:
            raise DigestMismatchError(
                f"after version {version} the set digest is {digest.hex()}, "
                f"the delta claims {delta.state_digest.hex()}"
            )
        self._digest = digest
        self._compact = self._compact.extended([hash_leaf(leaf)])
        return delta

    def finish(self) -> TrustedState:
        cp = self.checkpoint.checkpoint
        if self._compact.size != cp.size:
            raise BadProofError(
                f"checkpoint of size {cp.size} needs {cp.size - self._state.size} leaves after "
                f"{self._state.size}, got {self._compact.size - self._state.size}"
            )
        if self._compact.root() != cp.root:
            raise BadProofError(
                f"leaves {self._state.size + 1}..{cp.size} do not hash to the signed root "
                f"of size {cp.size}"
            )
        return TrustedState(
            list_id=self._state.list_id,
            size=cp.size,
            root=cp.root,
            compact_range=self._compact,
            lthash=self._lthash.to_bytes(),
            state_digest=self._digest,
            cosigned_at=self._cosigned_at,
            checkpoint_note=self._note,
        )


class PendingChanges:
    """The replica as it will be once the deltas verified so far apply: membership asked
    of ``listed`` (the replica before the step) under the changes recorded since."""

    def __init__(self, listed: Listed) -> None:
        self._before = listed
        self._changed: dict[SignalText, bool] = {}

    def listed(self, signals: Sequence[SignalText]) -> Set[SignalText]:
        unknown = [s for s in signals if s not in self._changed]
        before = self._before(unknown) if unknown else frozenset()
        return {s for s in signals if self._changed.get(s, s in before)}

    def apply(self, delta: Delta) -> None:
        self._changed.update(dict.fromkeys(delta.additions, True))
        self._changed.update(dict.fromkeys(delta.removals, False))


def verify_update(
    state: TrustedState,
    note: bytes,
    leaves: Sequence[bytes],
    *,
    trust: TrustRoot,
    now: int,
    listed: Listed,
    max_delta_bytes: int = DEFAULT_MAX_DELTA_BYTES,
) -> VerifiedUpdate:
    """Verify ``leaves`` ``[state.size, checkpoint.size)`` against signed ``note``.

    ``listed`` answers for the replica *before* the update; changes made by
    earlier leaves of this update are tracked here.
    """
    verified = verify_checkpoint(note, trust, trust.origin(state.list_id))
    step = StepVerifier(state, verified, trust=trust, now=now, max_delta_bytes=max_delta_bytes)
    if len(leaves) != step.target_size - state.size:
        raise BadProofError(
            f"checkpoint of size {step.target_size} needs {step.target_size - state.size} "
            f"leaves after {state.size}, got {len(leaves)}"
        )
    pending = PendingChanges(listed)
    deltas = []
    for leaf in leaves:
        delta = step.feed(leaf, pending.listed)
        pending.apply(delta)
        deltas.append(delta)
    return VerifiedUpdate(step.finish(), tuple(deltas), step.checkpoint)


def check_fresh(state: TrustedState, trust: TrustRoot, now: int) -> None:
    """Raise ``StaleCheckpointError`` if the stored state is too old to vouch for."""
    age = now - state.cosigned_at
    if age > trust.max_checkpoint_age_seconds:
        raise StaleCheckpointError(
            f"newest cosignature for {state.list_id} is {age} s old, "
            f"over the {trust.max_checkpoint_age_seconds} s maximum",
            age_seconds=age,
        )


def check_history(state: TrustedState, cp: Checkpoint, note: bytes) -> None:
    if cp.size < state.size:
        raise RollbackError(
            f"checkpoint of size {cp.size} is older than the verified size {state.size}"
        )
    if cp.size == state.size and cp.root != state.root:
        raise EquivocationError(
            f"two signed roots for size {cp.size} of {state.list_id}",
            trusted_note=state.checkpoint_note,
            conflicting_note=note,
        )


def check_time(
    state: TrustedState, verified: VerifiedCheckpoint, trust: TrustRoot, now: int
) -> int:
    """The time the checkpoint is fresh as of, if fresh enough; else a typed error.

    The hub's own timestamp dated beyond the allowed skew refuses the
    checkpoint. A witness's cosignature dated beyond it is not counted (its
    clock is wrong, not the log). With a witness quorum, the checkpoint is as
    fresh as its quorum-th newest witness cosignature (and the hub's own
    timestamp): a hub that keeps re-timestamping an old checkpoint while its
    witnesses have moved on goes stale. Only the very checkpoint already
    trusted (same size, so same root once ``check_history`` passed) keeps the
    newer of the stored and the new time.
    """
    limit = now + trust.max_clock_skew_seconds
    hub = verified.timestamped_at
    if hub is not None and hub > limit:
        raise FutureTimestampError(
            f"the hub's cosignature is dated {hub - now} s in the future "
            f"(allowed skew {trust.max_clock_skew_seconds} s)"
        )
    witnessed = sorted((t for _, t in verified.witness_times if t <= limit), reverse=True)
    quorum = trust.witness_quorum
    if len(witnessed) < quorum:
        raise QuorumError(
            f"{len(witnessed)} witness cosignature(s) dated within the allowed clock skew, "
            f"the trust root requires {quorum}"
        )
    if quorum:
        times = [witnessed[quorum - 1], *([hub] if hub is not None else [])]
        cosigned_at = min(times)
    elif hub is not None or witnessed:
        cosigned_at = max([*witnessed, *([hub] if hub is not None else [])])
    else:
        raise StaleCheckpointError(
            "checkpoint carries no valid cosignature, so its age is unknown", age_seconds=now
        )
    same = verified.checkpoint.size == state.size
    newest = max(cosigned_at, state.cosigned_at) if same else cosigned_at
    check_fresh(replace(state, cosigned_at=newest), trust, now)
    return newest


def ignored_witnesses(verified: VerifiedCheckpoint, trust: TrustRoot, now: int) -> list[str]:
    """The witnesses whose lines this checkpoint carried but that were not counted, and why."""
    limit = now + trust.max_clock_skew_seconds
    out = [f"{name}: {why}" for name, why in verified.bad_witnesses]
    out += [f"{name}: its cosignature is dated {t - now} s in the future"
            for name, t in verified.witness_times if t > limit]  # fmt: skip
    return out


def _check_applies(delta: Delta, list_id: str, version: int, listed: Listed) -> None:
    if delta.list_id != list_id or delta.version != version:
        raise DeltaConflictError(
            f"leaf {version} is a delta for {delta.list_id!r} version {delta.version}, "
            f"expected {list_id!r} version {version}"
        )
    present = listed([*delta.additions, *delta.removals])
    for s in delta.additions:
        if s in present:
            raise DeltaConflictError(f"version {version} adds {s}, which is already listed")
    for s in delta.removals:
        if s not in present:
            raise DeltaConflictError(f"version {version} removes {s}, which is not listed")
