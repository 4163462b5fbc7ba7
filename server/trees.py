"""Each list's Merkle tree, in memory: what the hub proves from.

Built at start from the leaf hashes the store keeps (nothing is rehashed);
extended only after the store committed the leaf, so a tree is never ahead
of the durable log. All access goes through one re-entrant lock, which the
publisher holds across the store's commit and the append (``extending``):
a reader that saw the new size in the store waits for the tree to have it.

Invariant: for every list, ``size(list_id)`` equals the stored size once
``load`` has returned (a mismatch at load is corruption and refuses start).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager

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

    def roots_with(self, list_id: str, leaf_hashes: Sequence[bytes]) -> list[bytes]:
        """The roots the tree would have after each of ``leaf_hashes`` (it is unchanged)."""
        with self._lock:
            compact = self._trees[list_id].compact_range()
        roots = []
        for h in leaf_hashes:
            compact = compact.extended([h])
            roots.append(compact.root())
        return roots

    def extending(self) -> AbstractContextManager[object]:
        """Held across a commit and the ``append`` of what it committed."""
        return self._lock

    def append(self, list_id: str, leaf_hashes: Sequence[bytes]) -> None:
        with self._lock:
            for h in leaf_hashes:
                self._trees[list_id].append_hash(h)

    def root(self, list_id: str, size: int) -> bytes:
        with self._lock:
            return self._trees[list_id].root(size)

    def compact_range(self, list_id: str, size: int) -> tuple[bytes, ...]:
        with self._lock:
            return tuple(self._trees[list_id].compact_range(size).hashes)

    def node(self, list_id: str, height: int, index: int) -> bytes:
        """A perfect subtree's hash, for the static tiles (``MerkleTree.node``)."""
        with self._lock:
            return self._trees[list_id].node(height, index)

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
