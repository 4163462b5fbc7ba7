"""Each list's Merkle tree, in memory: what the hub proves from.

Built at start from the leaf hashes the store keeps (nothing is rehashed);
extended only after the store committed the leaf, so a tree is never ahead
of the durable log. All access goes through one re-entrant lock: the
publisher appends while readers prove.

Invariant: for every list, ``size(list_id)`` equals the stored size once
``load`` has returned (a mismatch at load is corruption and refuses start).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from hashlist.errors import InputError, StorageError
from hashlist.merkle import MerkleTree


class Trees:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._trees: dict[str, MerkleTree] = {}

    def load(self, list_id: str, leaf_hashes: Iterable[bytes], size: int) -> None:
        tree = MerkleTree(leaf_hashes)
        if tree.size != size:
            # The store writes both in one transaction: this is corruption.
            raise StorageError(
                f"list {list_id}: {tree.size} leaves stored but size {size} recorded"
            )
        with self._lock:
            self._trees[list_id] = tree

    def add_list(self, list_id: str) -> None:
        with self._lock:
            self._trees.setdefault(list_id, MerkleTree())

    def root_with(self, list_id: str, leaf_hash: bytes) -> bytes:
        """The root the tree would have with ``leaf_hash`` appended (the tree is unchanged)."""
        with self._lock:
            return self._trees[list_id].compact_range().extended([leaf_hash]).root()

    def append(self, list_id: str, leaf_hash: bytes) -> None:
        with self._lock:
            self._trees[list_id].append_hash(leaf_hash)

    def root(self, list_id: str, size: int) -> bytes:
        with self._lock:
            return self._trees[list_id].root(size)

    def compact_range(self, list_id: str, size: int) -> tuple[bytes, ...]:
        with self._lock:
            return tuple(self._trees[list_id].compact_range(size).hashes)

    def inclusion_proof(self, list_id: str, index: int, size: int) -> list[bytes]:
        with self._lock:
            tree = self._trees[list_id]
            if not 0 <= index < size <= tree.size:
                raise InputError(f"no inclusion proof for leaf {index} at size {size} of {list_id}")
            return tree.inclusion_proof(index, size)

    def consistency_proof(self, list_id: str, first: int, second: int) -> list[bytes]:
        with self._lock:
            tree = self._trees[list_id]
            if not 0 < first <= second <= tree.size:
                raise InputError(f"no consistency proof from {first} to {second} of {list_id}")
            return tree.consistency_proof(first, second)
