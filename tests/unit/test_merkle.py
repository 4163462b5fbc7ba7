"""Properties of the tree, its proofs and the compact range, over random trees."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hashlist.errors import BadProofError
from hashlist.merkle import (
    CompactRange,
    MerkleTree,
    hash_leaf,
    verify_consistency,
    verify_inclusion,
)


def _tree(n: int) -> MerkleTree:
    return MerkleTree(hash_leaf(i.to_bytes(4, "big")) for i in range(n))


def _recursive_root(hashes: list[bytes]) -> bytes:
    # RFC 6962 section 2.1 MTH, written as the RFC writes it.
    from hashlist.merkle import hash_children

    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return hash_children(_recursive_root(hashes[:k]), _recursive_root(hashes[k:]))


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8 % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


sizes = st.integers(min_value=1, max_value=300)
# Proofs at size <= 300 are taken from prefixes of one 1024-leaf tree, so the
# true root of any size a bit flip produces (< 1024) is at hand.
BIG = _tree(1024)


def _inclusion_shape(index: int, size: int) -> tuple[int, int]:
    # RFC 6962 path decomposition: inner nodes, then border (left-sibling) nodes.
    inner = (index ^ (size - 1)).bit_length()
    return inner, (index >> inner).bit_count()


@given(size=sizes)
def test_root_matches_the_rfc_definition(size: int) -> None:
    leaves = [BIG.leaf_hash(i) for i in range(size)]
    assert BIG.root(size) == _recursive_root(leaves)


@given(data=st.data(), size=sizes)
def test_every_inclusion_proof_verifies_and_any_flip_is_rejected(
    data: st.DataObject, size: int
) -> None:
    index = data.draw(st.integers(0, size - 1), label="index")
    proof, root, leaf = BIG.inclusion_proof(index, size), BIG.root(size), BIG.leaf_hash(index)
    verify_inclusion(leaf, index, size, proof, root)

    bit = data.draw(st.integers(0, 255), label="bit")
    with pytest.raises(BadProofError):
        verify_inclusion(leaf, index, size, proof, _flip(root, bit))
    with pytest.raises(BadProofError):
        verify_inclusion(_flip(leaf, bit), index, size, proof, root)
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1), label="proof element")
        bad = [*proof[:which], _flip(proof[which], bit), *proof[which + 1 :]]
        with pytest.raises(BadProofError):
            verify_inclusion(leaf, index, size, bad, root)
    for b in range(size.bit_length() + 1):
        other = index ^ (1 << b)
        with pytest.raises(BadProofError):
            verify_inclusion(leaf, other, size, proof, root)
    for b in range(size.bit_length() + 1):
        other = size ^ (1 << b)
        # Against the true root of the flipped size the proof always fails.
        if 0 < other <= BIG.size:
            with pytest.raises(BadProofError):
                verify_inclusion(leaf, index, other, proof, BIG.root(other))
        # Against the original root it fails unless the path has the same shape
        # at both sizes: then the proof says nothing about size, and only the
        # signed checkpoint binds size to root (see docs/log-format.md).
        if other <= index or _inclusion_shape(index, other) != _inclusion_shape(index, size):
            with pytest.raises(BadProofError):
                verify_inclusion(leaf, index, other, proof, root)


@given(data=st.data(), size=st.integers(min_value=2, max_value=300))
def test_every_consistency_proof_verifies_and_any_flip_is_rejected(
    data: st.DataObject, size: int
) -> None:
    size2 = size
    size1 = data.draw(st.integers(1, size2 - 1), label="size1")
    proof = BIG.consistency_proof(size1, size2)
    root1, root2 = BIG.root(size1), BIG.root(size2)
    verify_consistency(size1, size2, proof, root1, root2)

    bit = data.draw(st.integers(0, 255), label="bit")
    with pytest.raises(BadProofError):
        verify_consistency(size1, size2, proof, _flip(root1, bit), root2)
    with pytest.raises(BadProofError):
        verify_consistency(size1, size2, proof, root1, _flip(root2, bit))
    which = data.draw(st.integers(0, len(proof) - 1), label="proof element")
    bad = [*proof[:which], _flip(proof[which], bit), *proof[which + 1 :]]
    with pytest.raises(BadProofError):
        verify_consistency(size1, size2, bad, root1, root2)
    flips = [(size1 ^ (1 << b), size2) for b in range(size1.bit_length() + 1)]
    flips += [(size1, size2 ^ (1 << b)) for b in range(size2.bit_length() + 1)]
    for other1, other2 in flips:
        if 0 < other1 <= other2 <= BIG.size:
            with pytest.raises(BadProofError):
                verify_consistency(other1, other2, proof, BIG.root(other1), BIG.root(other2))
            if len(BIG.consistency_proof(other1, other2)) != len(proof):
                with pytest.raises(BadProofError):
                    verify_consistency(other1, other2, proof, root1, root2)
        else:
            with pytest.raises(BadProofError):
                verify_consistency(other1, other2, proof, root1, root2)


def test_consistency_with_itself_needs_an_empty_proof() -> None:
    tree = _tree(5)
    verify_consistency(5, 5, [], tree.root(), tree.root())
    with pytest.raises(BadProofError):
        verify_consistency(5, 5, [tree.root()], tree.root(), tree.root())


@settings(max_examples=50)
@given(size=st.integers(0, 600), cut=st.integers(0, 600))
def test_compact_range_extended_leaf_by_leaf_equals_the_tree(size: int, cut: int) -> None:
    tree = _tree(size)
    cut = min(cut, size)
    leaves = [tree.leaf_hash(i) for i in range(size)]
    start = tree.compact_range(cut)
    extended = start.extended(leaves[cut:])
    assert extended == tree.compact_range()
    assert extended.root() == tree.root()
    assert CompactRange.from_bytes(extended.to_bytes()) == extended


def test_compact_range_refuses_the_wrong_number_of_hashes() -> None:
    with pytest.raises(BadProofError):
        CompactRange(3, (b"\x00" * 32,))
    with pytest.raises(BadProofError):
        CompactRange.from_bytes(b"\x00" * 9)


def test_proofs_at_past_sizes_after_growth() -> None:
    for at in (1, 2, 3, 513, 999, 1024):
        for index in (0, at // 2, at - 1):
            verify_inclusion(
                BIG.leaf_hash(index), index, at, BIG.inclusion_proof(index, at), BIG.root(at)
            )
