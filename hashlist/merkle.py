"""RFC 6962 Merkle trees: hashing, proofs, and the compact range a node keeps.

* Leaf hash ``SHA-256(0x00 || leaf)``, interior node ``SHA-256(0x01 || l || r)``,
  the empty tree hashes to ``SHA-256("")`` (RFC 6962 section 2.1).
* ``MerkleTree`` keeps every level of complete subtrees as one contiguous
  ``bytearray`` (32 bytes a hash), so a million leaves cost 64 MB and any
  proof at any past size is ``O(log^2 n)`` lookups.
* ``verify_inclusion`` and ``verify_consistency`` follow RFC 9162 sections
  2.1.3.2 and 2.1.4.2 and raise ``BadProofError``; they take sizes, hashes and
  proofs as plain values and never touch a tree.
* ``CompactRange`` is the Merkle frontier: the roots of the perfect subtrees
  that make up ``[0, size)``, largest first. It is all a node needs to extend
  the log leaf by leaf and recompute the root without keeping the tree.

A consistency proof from size 0 is refused: it proves nothing (every tree
extends the empty one), so callers that start empty handle that case
themselves, as transparency-dev's probes expect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hashlist.errors import BadProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def hash_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def hash_children(left: bytes | bytearray, right: bytes | bytearray) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly less than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only tree of leaf hashes that can prove anything about any prefix."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        for h in leaf_hashes:
            self.append_hash(h)

    @property
    def size(self) -> int:
        return len(self._levels[0]) // HASH_SIZE

    def append_hash(self, leaf_hash: bytes) -> None:
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf_hash)}")
        node = leaf_hash
        level = 0
        while True:
            if level == len(self._levels):
                self._levels.append(bytearray())
            row = self._levels[level]
            row += node
            count = len(row) // HASH_SIZE
            if count % 2:
                return
            node = hash_children(row[-2 * HASH_SIZE : -HASH_SIZE], row[-HASH_SIZE:])
            level += 1

    def append(self, leaf: bytes) -> None:
        self.append_hash(hash_leaf(leaf))

    def leaf_hash(self, index: int) -> bytes:
        return bytes(self._levels[0][index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def node(self, height: int, index: int) -> bytes:
        """The root of the perfect subtree of ``2**height`` leaves starting at leaf
        ``index * 2**height`` (a hash tile's entry); ``ValueError`` if not complete."""
        row = self._levels[height] if 0 <= height < len(self._levels) else bytearray()
        if not 0 <= index < len(row) // HASH_SIZE:
            raise ValueError(f"no complete subtree {index} of height {height}")
        return bytes(row[index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is outside a tree of size {size}")
        proof: list[bytes] = []
        start, n, m = 0, size, index
        # Walk down from the root, collecting siblings; the proof lists them bottom-up.
        while n > 1:
            k = _split(n)
            if m < k:
                proof.append(self._subtree(start + k, n - k))
                n = k
            else:
                proof.append(self._subtree(start, k))
                start, n, m = start + k, n - k, m - k
        proof.reverse()
        return proof

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        size2 = self.size if size2 is None else self._check_size(size2)
        if not 0 < size1 <= size2:
            raise ValueError(f"no consistency proof from size {size1} to {size2}")
        proof: list[bytes] = []
        start, n, m, complete = 0, size2, size1, True
        while m != n:
            k = _split(n)
            if m <= k:
                proof.append(self._subtree(start + k, n - k))
                n = k
            else:
                proof.append(self._subtree(start, k))
                start, n, m, complete = start + k, n - k, m - k, False
        if not complete:
            proof.append(self._subtree(start, n))
        proof.reverse()
        return proof

    def compact_range(self, size: int | None = None) -> CompactRange:
        size = self.size if size is None else self._check_size(size)
        hashes = []
        start = 0
        for bit in reversed(range(size.bit_length())):
            if size >> bit & 1:
                hashes.append(self._subtree(start, 1 << bit))
                start += 1 << bit
        return CompactRange(size, tuple(hashes))

    def _check_size(self, size: int) -> int:
        if not 0 <= size <= self.size:
            raise ValueError(f"size {size} is outside [0, {self.size}]")
        return size

    def _subtree(self, start: int, n: int) -> bytes:
        # start is always a multiple of the largest power of two <= n (RFC 6962
        # splits the left side off as a perfect subtree), so perfect pieces are
        # read straight from their level.
        if n & (n - 1) == 0:
            level = n.bit_length() - 1
            i = (start >> level) * HASH_SIZE
            return bytes(self._levels[level][i : i + HASH_SIZE])
        k = _split(n)
        return hash_children(self._subtree(start, k), self._subtree(start + k, n - k))


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree ``(size, root)``."""
    if not 0 <= index < size:
        raise BadProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hashes([leaf_hash, root, *proof])
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise BadProofError(f"inclusion proof has {len(proof)} hashes, more than the path")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise BadProofError(f"inclusion proof has {len(proof)} hashes, fewer than the path")
    if r != root:
        raise BadProofError(f"inclusion proof for leaf {index} does not lead to the root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that tree ``(size2, root2)`` extends tree ``(size1, root1)``."""
    if _equal_sizes_consistent(size1, size2, proof, root1, root2):
        return
    _check_hashes([root1, root2, *proof])
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise BadProofError("consistency proof is longer than the path")
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise BadProofError("consistency proof is shorter than the path")
    if fr != root1:
        raise BadProofError(f"consistency proof does not lead to the root of size {size1}")
    if sr != root2:
        raise BadProofError(f"consistency proof does not lead to the root of size {size2}")


def _equal_sizes_consistent(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> bool:
    """Settle the cases without a path; ``False`` means a real proof must be checked."""
    if size1 > size2:
        raise BadProofError(f"size {size1} > size {size2}: a log never shrinks")
    if size1 == 0:
        raise BadProofError("a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise BadProofError("equal sizes need an empty proof")
        if root1 != root2:
            raise BadProofError(f"two different roots for size {size1}")
        return True
    if not proof:
        raise BadProofError("empty consistency proof for different sizes")
    return False


def _check_hashes(hashes: Iterable[bytes]) -> None:
    for h in hashes:
        if len(h) != HASH_SIZE:
            raise BadProofError(f"a tree hash is {HASH_SIZE} bytes, got one of {len(h)}")


@dataclass(frozen=True, slots=True)
class CompactRange:
    """The Merkle frontier of ``[0, size)``: perfect-subtree roots, largest first."""

    size: int = 0
    hashes: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if self.size < 0 or len(self.hashes) != self.size.bit_count():
            raise BadProofError(
                f"a compact range of size {self.size} has {self.size.bit_count()} hashes, "
                f"not {len(self.hashes)}"
            )
        _check_hashes(self.hashes)

    def extended(self, leaf_hashes: Iterable[bytes]) -> CompactRange:
        """A new range with ``leaf_hashes`` appended, in order."""
        size, stack = self.size, list(self.hashes)
        for leaf_hash in leaf_hashes:
            # Each trailing 1-bit of size is a perfect subtree this leaf now completes.
            node, n = leaf_hash, size
            while n & 1:
                node = hash_children(stack.pop(), node)
                n >>= 1
            stack.append(node)
            size += 1
        return CompactRange(size, tuple(stack))

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        r = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            r = hash_children(h, r)
        return r

    def to_bytes(self) -> bytes:
        return self.size.to_bytes(8, "big") + b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, data: bytes) -> CompactRange:
        if len(data) < 8 or (len(data) - 8) % HASH_SIZE:
            raise BadProofError(f"a stored compact range cannot be {len(data)} bytes long")
        size = int.from_bytes(data[:8], "big")
        body = data[8:]
        return cls(size, tuple(body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE)))
