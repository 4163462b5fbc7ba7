"""The hub's write path: creating lists and publishing deltas.

Publishing, in order (``Publisher.publish``):

1. validate everything: the list exists, every hash parses, the request is
   not empty and does not add and remove the same hash (``InputError``,
   nothing published);
2. under the publish lock, leave out additions already listed and removals
   not listed (reported back), build the canonical delta with the new LtHash
   digest, refuse it if over the size limit;
3. compute the new root without touching the tree, sign and cosign the
   checkpoint, and commit leaf, checkpoint, set changes and idempotency
   record in one transaction;
4. only then extend the in-memory tree, announce the checkpoint to
   subscribers and tell the listeners (the witness submitter). One lock and
   the store's primary keys make two roots for one size impossible, however
   many operators publish at once.

An idempotency key replays the stored answer of the publication it made.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict

from hashlist.clock import Clock
from hashlist.delta import validate_list_id
from hashlist.errors import InputError
from hashlist.log import PlannedDelta, canonical_request, plan_delta
from hashlist.lthash import LtHash16
from hashlist.merkle import EMPTY_ROOT, hash_leaf
from hashlist.model import PublishResult
from server.broadcast import Broadcaster
from server.signing import HubSigning
from server.store import HubStore, ListRow, NewLeaf
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
        self.listeners: list[Callable[[], None]] = []  # told of each new checkpoint size

    def create_list(self, list_id: str) -> bool:
        validate_list_id(list_id)
        now = self.clock.now()
        log_note, note = self.signing.sign(list_id, 0, EMPTY_ROOT, now)
        row = ListRow(list_id, 0, 0, LtHash16().to_bytes(), note, now)
        with self.lock:
            created = self.store.create_list(row, log_note)
            if created:
                self.trees.add_list(list_id)
                self._announce(list_id, note)
                log.info("created list %s", list_id)
        return created

    def publish(
        self,
        list_id: str,
        additions: Sequence[str],
        removals: Sequence[str],
        idempotency_key: str = "",
    ) -> PublishResult:
        if self.store.get_list(list_id) is None:
            raise InputError(
                f"unknown list {list_id!r}: create it first (hashlist hub create-list)"
            )
        adds, removes = canonical_request(additions, removals)
        if len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise InputError(f"idempotency key is longer than {MAX_IDEMPOTENCY_KEY} characters")
        with self.lock:
            if idempotency_key and (earlier := self._replay(idempotency_key, list_id)):
                return earlier
            row = self.store.get_list(list_id)
            assert row is not None  # lists are never deleted
            plan = plan_delta(
                list_id, row.size + 1, row.lthash, adds, removes,
                present=self.store.listed(list_id, sorted(adds | removes)),
                max_delta_bytes=self.max_delta_bytes,
            )  # fmt: skip
            if not plan.leaf:
                return PublishResult(
                    row.size, 0, 0, plan.already_listed, plan.not_listed, row.latest_note
                )
            return self._append(row, plan, idempotency_key)

    def _append(self, row: ListRow, plan: PlannedDelta, key: str) -> PublishResult:
        version = row.size + 1
        leaf_hash = hash_leaf(plan.leaf)
        now = self.clock.now()
        root = self.trees.root_with(row.list_id, leaf_hash)
        log_note, note = self.signing.sign(row.list_id, version, root, now)
        added, removed = len(plan.additions), len(plan.removals)
        result = PublishResult(version, added, removed, plan.already_listed, plan.not_listed, note)
        self.store.commit_publication(
            NewLeaf(
                list_id=row.list_id, version=version, leaf=plan.leaf, leaf_hash=leaf_hash,
                additions=plan.additions, removals=plan.removals,
                hashes=row.hashes + added - removed, lthash=plan.lthash, log_note=log_note,
                cosigned_note=note, cosigned_at=now, idempotency_key=key,
                response=encode_result(result),
            )
        )  # fmt: skip
        self.trees.append(row.list_id, leaf_hash)
        self._announce(row.list_id, note)
        log.info(
            "published %s version %d: +%d -%d (%d already listed, %d not listed left out)",
            row.list_id, version, added, removed, len(plan.already_listed), len(plan.not_listed),
        )  # fmt: skip
        return result

    def _announce(self, list_id: str, note: bytes) -> None:
        self.broadcaster.announce(list_id, note)
        for listener in self.listeners:
            listener()

    def _replay(self, key: str, list_id: str) -> PublishResult | None:
        stored = self.store.publication(key)
        if stored is None:
            return None
        if stored[0] != list_id:
            raise InputError(f"idempotency key {key!r} was already used for list {stored[0]!r}")
        return decode_result(stored[1])


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
