"""The hub's domain logic: lists, grants, publishing, checkpoints, subscriptions.

No protobuf here: servicers translate to and from these dataclasses.

Publishing, in order (``publish``):

1. validate everything: the list exists, every hash parses, the request is
   not empty and does not add and remove the same hash (``InputError``,
   nothing published);
2. under the publish lock, leave out additions already listed and removals
   not listed (reported back), build the canonical delta with the new LtHash
   digest, refuse it if over the size limit;
3. compute the new root without touching the tree, sign and cosign the
   checkpoint, and commit leaf, checkpoint, set changes and idempotency
   record in one transaction;
4. only then extend the in-memory tree and push the checkpoint to
   subscribers. One lock and the store's primary keys make two roots for one
   size impossible, however many operators publish at once.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict

from hashlist.api import HashMatches, ListStatus, PublishResult, Report, Verdict
from hashlist.checkpoint import Checkpoint, cosign, sign_checkpoint
from hashlist.clock import Clock
from hashlist.delta import validate_list_id
from hashlist.errors import InputError, NotFoundError, PermissionDeniedError, StorageError
from hashlist.identity import Identity, Role
from hashlist.log import PlannedDelta, canonical_request, plan_delta
from hashlist.lthash import LtHash16
from hashlist.merkle import EMPTY_ROOT, MerkleTree, hash_leaf
from hashlist.note import Note, Signer, parse_note, sign_note
from hashlist.snapshot import SnapshotHeader
from hashlist.witness import cosigned_note
from server.broadcast import Broadcaster
from server.reports import ReportBook
from server.store import HubStore, ListRow, NewLeaf

log = logging.getLogger(__name__)
_COSIGNATURE_BYTES = 8 + 64  # cosignature/v1: timestamp, then Ed25519; a log signature is 64


class Hub:
    def __init__(
        self,
        *,
        name: str,
        store: HubStore,
        log_signers: Sequence[Signer],
        timestamp_signer: Signer,
        clock: Clock,
        max_delta_bytes: int,
        trust_roots: Mapping[int, bytes] | None = None,
    ) -> None:
        self.name = name
        self.store = store
        if not log_signers:
            raise ValueError("a hub needs at least one log key")
        self.log_signers = list(log_signers)
        self.timestamp_signer = timestamp_signer
        self.clock = clock
        self.max_delta_bytes = max_delta_bytes
        self.trust_roots = dict(trust_roots or {})
        self.broadcaster = Broadcaster()
        self.on_new_checkpoint: Callable[[], None] = lambda: None  # e.g. wake the witnesses
        self.reports = ReportBook(store.path)
        self._publish_lock = threading.Lock()
        self._tree_lock = threading.RLock()
        self._trees: dict[str, MerkleTree] = {}
        for row in store.lists():
            tree = MerkleTree(store.leaf_hashes(row.list_id))
            if tree.size != row.size:
                # commit_publication writes both in one transaction: this is corruption.
                raise StorageError(
                    f"list {row.list_id}: {tree.size} leaves stored but size {row.size} recorded"
                )
            self._trees[row.list_id] = tree
            self.broadcaster.publish(row.list_id, self._resign(row))

    def origin(self, list_id: str) -> str:
        return f"{self.name}/lists/{list_id}"

    # --- administration ---

    def create_list(self, list_id: str) -> bool:
        validate_list_id(list_id)
        now = self.clock.now()
        log_note = sign_checkpoint(
            Checkpoint(self.origin(list_id), 0, EMPTY_ROOT), self.log_signers
        )
        note = cosign(log_note, [self.timestamp_signer], now)
        row = ListRow(list_id, 0, 0, LtHash16().to_bytes(), note, now)
        with self._publish_lock:
            created = self.store.create_list(row, log_note)
            if created:
                with self._tree_lock:
                    self._trees[list_id] = MerkleTree()
                self.broadcaster.publish(list_id, note)
                self.on_new_checkpoint()
                log.info("created list %s", list_id)
        return created

    def set_grant(self, list_id: str, partner: str, granted: bool) -> bool:
        self._row(list_id)
        if not partner or not partner.isprintable() or len(partner) > 128:
            raise InputError(f"partner name {partner!r} is not valid")
        changed = self.store.set_grant(list_id, partner, granted)
        log.info("%s %s on %s", "granted" if granted else "revoked", partner, list_id)
        return changed

    def authorize_read(self, who: Identity, list_id: str) -> None:
        """Partners read the lists they are granted; auditors and the operator, all."""
        if who.role in (Role.AUDITOR, Role.OPERATOR):
            self._row(list_id)
            return
        if who.role is Role.PARTNER and self.store.is_granted(list_id, who.name):
            return
        raise PermissionDeniedError(f"{who} may not read list {list_id!r}")

    @staticmethod
    def authorize_admin(who: Identity) -> None:
        if who.role is not Role.OPERATOR:
            raise PermissionDeniedError(f"{who} is not the operator: only the operator administers")

    # --- publishing ---

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
        if len(idempotency_key) > 200:
            raise InputError("idempotency key is longer than 200 characters")
        with self._publish_lock:
            if idempotency_key and (earlier := self._replay(idempotency_key, list_id)):
                return earlier
            row = self._row(list_id)
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
        with self._tree_lock:
            root = self._trees[row.list_id].compact_range().extended([leaf_hash]).root()
        now = self.clock.now()
        origin = self.origin(row.list_id)
        log_note = sign_checkpoint(Checkpoint(origin, version, root), self.log_signers)
        note = cosign(log_note, [self.timestamp_signer], now)
        added, removed = len(plan.additions), len(plan.removals)
        result = PublishResult(version, added, removed, plan.already_listed, plan.not_listed, note)
        self.store.commit_publication(
            NewLeaf(
                list_id=row.list_id,
                version=version,
                leaf=plan.leaf,
                leaf_hash=leaf_hash,
                additions=plan.additions,
                removals=plan.removals,
                hashes=row.hashes + added - removed,
                lthash=plan.lthash,
                log_note=log_note,
                cosigned_note=note,
                cosigned_at=now,
                idempotency_key=key,
                response=_encode_result(result),
            )
        )
        with self._tree_lock:
            self._trees[row.list_id].append_hash(leaf_hash)
        self.broadcaster.publish(row.list_id, note)
        self.on_new_checkpoint()
        log.info(
            "published %s version %d: +%d -%d (%d already listed, %d not listed left out)",
            row.list_id, version, added, removed, len(plan.already_listed), len(plan.not_listed),
        )  # fmt: skip
        return result

    def _replay(self, key: str, list_id: str) -> PublishResult | None:
        stored = self.store.publication(key)
        if stored is None:
            return None
        if stored[0] != list_id:
            raise InputError(f"idempotency key {key!r} was already used for list {stored[0]!r}")
        data = json.loads(stored[1])
        data["checkpoint_note"] = bytes.fromhex(data["checkpoint_note"])
        data["already_listed"] = tuple(data["already_listed"])
        data["not_listed"] = tuple(data["not_listed"])
        data["replayed"] = True
        return PublishResult(**data)

    def recosign(self) -> int:
        """Re-cosign every list's current checkpoint now; returns how many."""
        done = 0
        for list_id in [row.list_id for row in self.store.lists()]:
            with self._publish_lock:
                row = self._row(list_id)
                now = self.clock.now()
                note = cosign(row.latest_note, [self.timestamp_signer], now)
                if self.store.update_cosigned(list_id, row.size, note, now):
                    self.broadcaster.publish(list_id, note)
                    done += 1
        return done

    def add_witness_cosignature(self, list_id: str, size: int, line: bytes) -> bool:
        """Serve a witness's cosignature line with the checkpoint, if still at ``size``."""
        with self._publish_lock:
            row = self._row(list_id)
            if row.size != size:
                return False
            note = cosigned_note(row.latest_note, [line])
            if not self.store.update_cosigned(list_id, size, note, row.cosigned_at):
                return False
            self.broadcaster.publish(list_id, note)
        return True

    def _resign(self, row: ListRow) -> bytes:
        """``row``'s note signed by exactly the current log keys (after a key rollover).

        Cosignatures (timestamp, witnesses) sign the checkpoint body, not the
        log signature, so they stay valid and are kept; log signatures by keys
        no longer configured are dropped.
        """
        parsed = parse_note(row.latest_note)
        current = {(s.name, s.verifier().key_id) for s in self.log_signers}
        if {(s.name, s.key_id) for s in parsed.signatures if len(s.signature) == 64} == current:
            return row.latest_note
        cosignatures = [s for s in parsed.signatures if len(s.signature) == _COSIGNATURE_BYTES]
        fresh = parse_note(sign_note(parsed.text, self.log_signers)).signatures
        note = Note(parsed.text, (*fresh, *cosignatures)).encode()
        self.store.update_cosigned(row.list_id, row.size, note, row.cosigned_at)
        log.info("list %s: re-signed version %d with log key(s) %s", row.list_id, row.size,
                 ", ".join(s.name for s in self.log_signers))  # fmt: skip
        return note

    # --- reading ---

    def checkpoint(self, list_id: str) -> bytes:
        return self._row(list_id).latest_note

    def trust_root(self, version: int) -> bytes:
        """Signed trust-root ``version`` as configured; nodes verify the chain themselves."""
        if version not in self.trust_roots:
            newest = max(self.trust_roots, default=0)
            raise NotFoundError(f"no trust root version {version} (newest served: {newest})")
        return self.trust_roots[version]

    def leaf_batches(
        self, list_id: str, start: int, end: int, batch_bytes: int
    ) -> Iterator[tuple[int, list[bytes]]]:
        size = self._row(list_id).size
        if not 0 <= start <= end <= size:
            raise InputError(f"leaf range [{start}, {end}) is outside [0, {size}] of {list_id}")
        batch: list[bytes] = []
        batch_start, used = start, 0
        for i, leaf in enumerate(self.store.leaves(list_id, start, end), start=start):
            if batch and used + len(leaf) > batch_bytes:
                yield batch_start, batch
                batch, batch_start, used = [], i, 0
            batch.append(bytes(leaf))
            used += len(leaf)
        if batch:
            yield batch_start, batch

    def inclusion_proof(self, list_id: str, index: int, size: int) -> list[bytes]:
        self._row(list_id)
        with self._tree_lock:
            tree = self._trees[list_id]
            if not 0 <= index < size <= tree.size:
                raise InputError(f"no inclusion proof for leaf {index} at size {size} of {list_id}")
            return tree.inclusion_proof(index, size)

    def consistency_proof(self, list_id: str, first: int, second: int) -> list[bytes]:
        self._row(list_id)
        with self._tree_lock:
            tree = self._trees[list_id]
            if not 0 < first <= second <= tree.size:
                raise InputError(f"no consistency proof from {first} to {second} of {list_id}")
            return tree.consistency_proof(first, second)

    def snapshot(
        self, list_id: str, from_size: int, batch: int
    ) -> Iterator[SnapshotHeader | list[tuple[str, int]]]:
        """The header, then batches of (signal, version), all from one read transaction."""
        with self.store.read_snapshot() as db:
            r = db.execute(
                "SELECT size, hashes, latest_note FROM lists WHERE list_id=?", (list_id,)
            )
            size, hashes, note = r.fetchone()
            if size == 0:
                raise InputError(f"list {list_id} is empty: there is nothing to snapshot")
            if not 0 <= from_size <= size:
                raise InputError(f"from_size {from_size} is beyond the list's size {size}")
            with self._tree_lock:
                tree = self._trees[list_id]
                compact = tree.compact_range(size).hashes
                proof = tuple(tree.inclusion_proof(size - 1, size))
                consistency = tuple(tree.consistency_proof(from_size, size)) if from_size else ()
            yield SnapshotHeader(
                note, compact, self.store.leaf(list_id, size - 1, db), proof, consistency, hashes
            )
            chunk: list[tuple[str, int]] = []
            for item in self.store.members(db, list_id):
                chunk.append(item)
                if len(chunk) >= batch:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk

    def status(self) -> list[ListStatus]:
        out = []
        for row in self.store.lists():
            with self._tree_lock:
                root = self._trees[row.list_id].root(row.size)
            out.append(
                ListStatus(
                    row.list_id, row.size, row.hashes, root, LtHash16(row.lthash).digest(),
                    row.cosigned_at, tuple(self.store.partners(row.list_id)),
                )
            )  # fmt: skip
        return out

    # --- reports ---

    def submit_reports(
        self, who: Identity, reports: Sequence[Report], verdicts: Sequence[Verdict]
    ) -> tuple[int, int]:
        """A partner's reports (on lists it is granted) and verdicts, de-duplicated by id."""
        if who.role is not Role.PARTNER:
            raise PermissionDeniedError(f"{who} is not a partner: only partners report matches")
        for list_id in {r.list_id for r in reports}:
            self.authorize_read(who, list_id)
        new = self.reports.submit(who.name, reports, verdicts, self.clock.now())
        if any(new):
            log.info("%s reported %d new matches and %d new verdicts", who, *new)
        return new

    def matches(self, list_id: str, review_threshold: int) -> list[HashMatches]:
        self._row(list_id)
        return self.reports.matches(list_id, review_threshold)

    def _row(self, list_id: str) -> ListRow:
        row = self.store.get_list(list_id)
        if row is None:
            raise NotFoundError(f"no list named {list_id!r} on this hub")
        return row


def _encode_result(result: PublishResult) -> bytes:
    data = asdict(result)
    data["checkpoint_note"] = result.checkpoint_note.hex()
    return json.dumps(data).encode()
