"""Pure verification of a snapshot: a whole list at its current signed checkpoint.

A node that is empty, or far behind, fetches the current set instead of
replaying every delta. What makes the set trustworthy:

1. the signed checkpoint verifies (signatures, origin, quorum, freshness) and
   does not roll back or fork the node's verified state; if the node has
   verified size ``n > 0``, a consistency proof from ``(n, root_n)`` to the
   checkpoint is required;
2. the compact range sent with it hashes to the checkpoint's root, so the
   node can extend the log from there without the tree;
3. the last leaf is included at index ``size - 1`` and is a well-formed delta
   for this list at version ``size``: its ``state`` line is the digest of the
   set after it, committed to by the signed root;
4. the LtHash16 of the streamed signals equals that digest and their count
   equals the announced one;
5. each listed video (``vpdq`` signal) comes with the frame set it names
   (``hashlist.vpdq``), in the same batch.

``SnapshotVerifier`` checks 1-3 on construction, takes the signals in
batches (``feed``), and checks 4 in ``finish``. Like ``StepVerifier`` it does
no IO: the caller writes the batches inside one transaction and commits only
after ``finish`` returns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from hashlist.checkpoint import VerifiedCheckpoint, verify_checkpoint
from hashlist.delta import DEFAULT_MAX_DELTA_BYTES, decode_delta
from hashlist.errors import (
    BadProofError,
    DeltaConflictError,
    DigestMismatchError,
    MalformedDeltaError,
)
from hashlist.lthash import LtHash16
from hashlist.merkle import CompactRange, hash_leaf, verify_consistency, verify_inclusion
from hashlist.signals import CANONICAL_SIGNAL_PATTERN, SignalText
from hashlist.trustroot import TrustRoot
from hashlist.verify import TrustedState, check_history, check_time
from hashlist.vpdq import FrameSet, parse_frame_text

_CANONICAL = re.compile(CANONICAL_SIGNAL_PATTERN)
# One pass over a whole batch joined by newlines: 3x faster than a match per
# signal, which was a third of bootstrap time. Signals contain no newline if
# and only if this matches, so joining cannot hide a bad one.
_CANONICAL_LINES = re.compile(f"(?:{CANONICAL_SIGNAL_PATTERN}\n)*")


@dataclass(frozen=True, slots=True)
class SnapshotHeader:
    note: bytes
    compact_range: tuple[bytes, ...]
    last_leaf: bytes
    last_leaf_proof: tuple[bytes, ...]
    consistency_proof: tuple[bytes, ...]
    count: int


class SnapshotVerifier:
    """See the module docstring."""

    def __init__(
        self,
        state: TrustedState,
        header: SnapshotHeader,
        *,
        trust: TrustRoot,
        now: int,
        max_delta_bytes: int = DEFAULT_MAX_DELTA_BYTES,
        verified: VerifiedCheckpoint | None = None,
    ) -> None:
        """``verified``: what ``verify_checkpoint`` returned for ``header.note``, if the
        caller verified that very note already (a checkpoint is verified once)."""
        if verified is None or verified.note != header.note:
            verified = verify_checkpoint(header.note, trust, trust.origin(state.list_id))
        cp = verified.checkpoint
        check_history(state, cp, header.note)
        self._cosigned_at = check_time(state, verified, trust, now)
        if cp.size == 0:
            raise BadProofError("a snapshot of an empty log carries nothing to verify")
        if 0 < state.size < cp.size:
            verify_consistency(
                state.size, cp.size, list(header.consistency_proof), state.root, cp.root
            )
        compact = CompactRange(cp.size, header.compact_range)
        if compact.root() != cp.root:
            raise BadProofError(
                f"snapshot's compact range does not hash to the root of size {cp.size}"
            )
        verify_inclusion(
            hash_leaf(header.last_leaf), cp.size - 1, cp.size, list(header.last_leaf_proof), cp.root
        )
        last = decode_delta(header.last_leaf, max_bytes=max_delta_bytes)
        if last.list_id != state.list_id or last.version != cp.size:
            raise DeltaConflictError(
                f"snapshot's last leaf is {last.list_id!r} version {last.version}, "
                f"expected {state.list_id!r} version {cp.size}"
            )
        if header.count < 0:
            raise MalformedDeltaError("snapshot announces a negative count")
        self._state = state
        self._header = header
        self._compact = compact
        self._root = cp.root
        self._size = cp.size
        self._target = last.state_digest
        self._lthash = LtHash16()
        self._seen = 0

    @property
    def size(self) -> int:
        return self._size

    def feed(
        self, signals: Sequence[str], videos: Sequence[bytes] = ()
    ) -> tuple[list[SignalText], list[FrameSet]]:
        """Check one batch and fold it in; returns it typed as canonical signals, with
        the frame sets of its videos (``videos``: their texts, in the signals' order)."""
        self._seen += len(signals)
        if self._seen > self._header.count:
            raise MalformedDeltaError(
                f"snapshot sends more than the {self._header.count} signals it announced"
            )
        if _CANONICAL_LINES.fullmatch("\n".join(signals) + "\n" if signals else "") is None:
            bad = next(s for s in signals if _CANONICAL.fullmatch(s) is None)
            raise MalformedDeltaError(f"snapshot signal {bad[:80]!r} is not canonical")
        typed = [SignalText(s) for s in signals]
        frames = _frames(typed, videos)
        self._lthash.add(typed)
        return typed, frames

    def finish(self) -> TrustedState:
        if self._seen != self._header.count:
            raise MalformedDeltaError(
                f"snapshot announced {self._header.count} signals but sent {self._seen}"
            )
        digest = self._lthash.digest()
        if digest != self._target:
            raise DigestMismatchError(
                f"snapshot set digest is {digest.hex()}, version {self._size} "
                f"commits to {self._target.hex()}"
            )
        return TrustedState(
            list_id=self._state.list_id,
            size=self._size,
            root=self._root,
            compact_range=self._compact,
            lthash=self._lthash.to_bytes(),
            state_digest=digest,
            cosigned_at=self._cosigned_at,
            checkpoint_note=self._header.note,
        )


def _frames(signals: Sequence[SignalText], videos: Sequence[bytes]) -> list[FrameSet]:
    """The frame sets of the videos among ``signals``, each checked against its signal."""
    listed = [s for s in signals if s.startswith("vpdq:")]
    if len(listed) != len(videos):
        raise MalformedDeltaError(
            f"snapshot batch has {len(listed)} video(s) but {len(videos)} frame set(s)"
        )
    out = []
    for signal, text in zip(listed, videos, strict=True):
        frames = parse_frame_text(text)
        if frames is None or frames.signal != signal:
            raise MalformedDeltaError(f"snapshot frames of {signal} do not hash to it")
        out.append(frames)
    return out
