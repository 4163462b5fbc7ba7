"""The hub's write path: creating lists and publishing deltas.

Publishing, in order (``Publisher.publish``):

1. validate everything: the list exists, every hash parses, the request is
   not empty and does not add and remove the same hash (``InputError``,
   nothing published);
2. under the publish lock, leave out additions already listed and removals
   not listed (reported back), and build canonical deltas with their LtHash
   digests: as many as ``max_delta_bytes`` needs (``hashlist.log.plan_deltas``);
3. compute each new root without touching the tree, sign each checkpoint
   with the log keys and cosign the last, and commit every leaf, checkpoint
   and set change with the idempotency record in one transaction: a large
   publication becomes visible whole or not at all;
4. only then extend the in-memory tree and announce the last checkpoint to
   subscribers (through the witness submitter when witnesses are configured,
   so that it is announced once, with their cosignatures). One lock and
   the store's primary keys make two roots for one size impossible, however
   many operators publish at once.

An idempotency key replays the stored answer of the publication it made.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace

from hashlist.clock import Clock
from hashlist.delta import validate_list_id
from hashlist.errors import InputError
from hashlist.log import PlannedDelta, canonical_request, plan_deltas
from hashlist.lthash import LtHash16
from hashlist.merkle import EMPTY_ROOT, hash_leaf
from hashlist.model import SHOWN_LEFT_OUT, PublishResult
from hashlist.signals import TRIVIAL, SignalText
from hashlist.vpdq import FrameSet
from server.broadcast import Broadcaster
from server.signing import HubSigning
from server.store import HubStore, ListRow, LogEntry, NewPublication
from server.trees import Trees

log = logging.getLogger(__name__)
MAX_IDEMPOTENCY_KEY = 200


class Publisher:
    def __init__(
        self,
        *,
        store: HubStore,
        trees: Trees,
        signing: HubSigning,
        clock: Clock,
        broadcaster: Broadcaster,
        lock: threading.Lock,
        max_delta_bytes: int,
    ) -> None:
        self.store, self.trees, self.signing, self.clock = store, trees, signing, clock
        self.broadcaster = broadcaster
        self.lock = lock  # shared with the cosigner: one writer of each list's served note
        self.max_delta_bytes = max_delta_bytes
        # How a new checkpoint reaches subscribers: at once, unless the witness
        # submitter takes this over to announce it once, with its cosignatures.
        self.announce: Callable[[str, int, bytes], None] = self._announce_now

    def create_list(self, list_id: str) -> bool:
        validate_list_id(list_id)
        now = self.clock.now()
        log_note, note = self.signing.sign(list_id, 0, EMPTY_ROOT, now)
        row = ListRow(list_id, 0, 0, LtHash16().to_bytes(), note, now)
        with self.lock:
            created = self.store.create_list(row, log_note)
            if created:
                self.trees.add_list(list_id)
                self.announce(list_id, 0, note)
                log.info("created list %s", list_id)
        return created

    def publish(
        self,
        list_id: str,
        additions: Sequence[str],
        removals: Sequence[str],
        idempotency_key: str = "",
        videos: Sequence[FrameSet] = (),
    ) -> PublishResult:
        """``videos``: the frame set of each added ``vpdq`` signal (see ``hashlist.vpdq``)."""
        if self.store.get_list(validate_list_id(list_id)) is None:
            raise InputError(
                f"unknown list {list_id!r}: create it first (hashlist hub create-list)"
            )
        adds, removes = canonical_request(additions, removals)
        if trivial := sorted(adds & TRIVIAL):
            raise InputError(
                f"refusing to list {len(trivial)} hash(es) of trivially common content (the empty "
                f"file, a blank image) that would match every such upload: {', '.join(trivial[:5])}"
            )
        frames = _frames_for(adds, videos)
        if len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise InputError(f"idempotency key is longer than {MAX_IDEMPOTENCY_KEY} characters")
        digest = request_digest(list_id, adds, removes) if idempotency_key else b""
        with self.lock:
            if idempotency_key and (earlier := self._replay(idempotency_key, list_id, digest)):
                return earlier
            row = self.store.get_list(list_id)
            assert row is not None  # lists are never deleted
            present = self.store.listed(list_id, sorted(adds | removes))
            already, missing = sorted(adds & present), sorted(removes - present)
            plans = plan_deltas(
                list_id, row.size + 1, row.lthash, adds, removes, present=present,
                max_delta_bytes=self.max_delta_bytes, videos=frames,
            )  # fmt: skip
            result = PublishResult(
                row.size, 0, 0, tuple(already[:SHOWN_LEFT_OUT]), tuple(missing[:SHOWN_LEFT_OUT]),
                row.latest_note, first_version=row.size, already_listed_count=len(already),
                not_listed_count=len(missing),
            )  # fmt: skip
            if not plans:
                return result
            return self._append(row, plans, result, idempotency_key, digest, frames=frames)

    def _append(
        self, row: ListRow, plans: list[PlannedDelta], result: PublishResult, key: str,
        digest: bytes, *, frames: dict[SignalText, FrameSet],
    ) -> PublishResult:  # fmt: skip
        now = self.clock.now()
        hashes = [hash_leaf(p.leaf) for p in plans]
        roots = self.trees.roots_with(row.list_id, hashes)
        entries = []
        for version, (plan, leaf_hash, root) in enumerate(zip(plans, hashes, roots, strict=True),
                                                          start=row.size + 1):  # fmt: skip
            log_note = self.signing.sign_log(row.list_id, version, root)
            videos = tuple(frames[s] for s in plan.additions if s in frames)
            entries.append(LogEntry(version, plan.leaf, leaf_hash, plan.additions, plan.removals,
                                    log_note, videos))  # fmt: skip
        note = self.signing.cosign(entries[-1].log_note, now)
        added = sum(len(p.additions) for p in plans)
        removed = sum(len(p.removals) for p in plans)
        result = replace(result, version=entries[-1].version, added=added, removed=removed,
                         checkpoint_note=note, first_version=row.size + 1)  # fmt: skip
        new = NewPublication(
            list_id=row.list_id, entries=entries, hashes=row.hashes + added - removed,
            lthash=plans[-1].lthash, cosigned_note=note, cosigned_at=now, idempotency_key=key,
            response=encode_result(result), request_digest=digest,
        )  # fmt: skip
        with self.trees.extending():  # readers never see the store ahead of the tree
            self.store.commit_publication(new)
            self.trees.append(row.list_id, hashes)
        self.announce(row.list_id, result.version, note)
        log.info(
            "published %s versions %d..%d: +%d -%d (%d already listed, %d not listed left out)",
            row.list_id, result.first_version, result.version, added, removed,
            result.already_listed_count, result.not_listed_count,
        )  # fmt: skip
        return result

    def _announce_now(self, list_id: str, size: int, note: bytes) -> None:
        self.broadcaster.announce(list_id, note)

    def _replay(self, key: str, list_id: str, digest: bytes) -> PublishResult | None:
        stored = self.store.publication(key)
        if stored is None:
            return None
        used_for, response, earlier = stored
        if used_for != list_id:
            raise InputError(f"idempotency key {key!r} was already used for list {used_for!r}")
        if earlier and earlier != digest:
            raise InputError(f"idempotency key {key!r} was already used for another publication: "
                             "a retry must send the same hashes")  # fmt: skip
        return decode_result(response)


def _frames_for(adds: set[SignalText], videos: Sequence[FrameSet]) -> dict[SignalText, FrameSet]:
    """Each added video's frame set; ``InputError`` for a video without its frames or
    frames of a video this publication does not add."""
    frames = {v.signal: v for v in videos}
    if stray := sorted(set(frames) - adds):
        raise InputError(f"frames were given for {len(stray)} video(s) this publication does "
                         f"not add, e.g. {stray[0]}")  # fmt: skip
    if missing := sorted(s for s in adds if s.startswith("vpdq:") and s not in frames):
        raise InputError(
            f"{len(missing)} video(s) to add came without their frames, e.g. {missing[0]}: "
            "publish videos from `hashlist hash` output, whose lines carry their vpdq frames"
        )
    return frames


def request_digest(list_id: str, adds: set[SignalText], removes: set[SignalText]) -> bytes:
    """What an idempotency key stands for: the list and the canonical request, hashed."""
    h = hashlib.sha256(f"{list_id}\n".encode())
    for s in sorted(adds):
        h.update(f"add {s}\n".encode())
    for s in sorted(removes):
        h.update(f"remove {s}\n".encode())
    return h.digest()


def encode_result(result: PublishResult) -> bytes:
    """The stored answer of a publication, replayed for a repeated idempotency key."""
    data = asdict(result)
    data["checkpoint_note"] = result.checkpoint_note.hex()
    return json.dumps(data).encode()


def decode_result(stored: bytes) -> PublishResult:
    data = json.loads(stored)
    data["checkpoint_note"] = bytes.fromhex(data["checkpoint_note"])
    data["already_listed"] = tuple(data["already_listed"])
    data["not_listed"] = tuple(data["not_listed"])
    data["replayed"] = True
    return PublishResult(**data)
