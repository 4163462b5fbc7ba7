"""transparency-dev/merkle's RFC 6962 probes and the classic 8-leaf roots."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from hashlist.errors import BadProofError
from hashlist.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    hash_children,
    hash_leaf,
    verify_consistency,
    verify_inclusion,
)


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _probes(vectors: Path, kind: str) -> list[tuple[str, dict[str, Any]]]:
    folder = vectors / "merkle-proofs" / kind
    return [
        (str(p.relative_to(folder)), json.loads(p.read_text()))
        for p in sorted(folder.rglob("*.json"))
    ]


def test_all_196_probes_are_present(vectors: Path) -> None:
    assert len(_probes(vectors, "inclusion")) + len(_probes(vectors, "consistency")) == 196


def test_inclusion_probes(vectors: Path) -> None:
    probes = _probes(vectors, "inclusion")
    assert probes
    for name, p in probes:
        proof = [_b64(x) for x in p["proof"] or []]
        args = (_b64(p["leafHash"]), p["leafIdx"], p["treeSize"], proof, _b64(p["root"]))
        if not p["wantErr"]:
            verify_inclusion(*args)
            continue
        try:
            verify_inclusion(*args)
        except BadProofError:
            continue
        pytest.fail(f"{name}: {p['desc']} verified but must not")


def test_consistency_probes(vectors: Path) -> None:
    probes = _probes(vectors, "consistency")
    assert probes
    for name, p in probes:
        proof = [_b64(x) for x in p["proof"] or []]
        args = (p["size1"], p["size2"], proof, _b64(p["root1"]), _b64(p["root2"]))
        if not p["wantErr"]:
            verify_consistency(*args)
            continue
        try:
            verify_consistency(*args)
        except BadProofError:
            continue
        pytest.fail(f"{name}: {p['desc']} verified but must not")


def test_roots_of_the_classic_eight_leaves(vectors: Path) -> None:
    data = json.loads((vectors / "merkle-roots.json").read_text())
    leaves = [bytes.fromhex(x) for x in data["leaves_hex"]]
    tree = MerkleTree(hash_leaf(leaf) for leaf in leaves)
    for size, root in data["roots_hex_by_size"].items():
        assert tree.root(int(size)).hex() == root, f"root of size {size}"
        assert tree.compact_range(int(size)).root().hex() == root
    assert hash_leaf(data["hash_leaf"]["input_ascii"].encode()).hex() == data["hash_leaf"]["hex"]
    kids = data["hash_children"]
    assert (
        hash_children(kids["left_ascii"].encode(), kids["right_ascii"].encode()).hex()
        == kids["hex"]
    )
    assert tree.root(0) == EMPTY_ROOT


def test_generated_proofs_match_the_probe_proofs(vectors: Path) -> None:
    # The happy-path probes are over the same eight leaves: our generator must
    # produce exactly the proofs transparency-dev's does, not merely valid ones.
    data = json.loads((vectors / "merkle-roots.json").read_text())
    tree = MerkleTree(hash_leaf(bytes.fromhex(x)) for x in data["leaves_hex"])
    checked = 0
    for _, p in _probes(vectors, "inclusion"):
        if not p["wantErr"] and p["desc"] == "happy path" and p["treeSize"] <= 8:
            proof = tree.inclusion_proof(p["leafIdx"], p["treeSize"])
            assert proof == [_b64(x) for x in p["proof"] or []]
            checked += 1
    for _, p in _probes(vectors, "consistency"):
        if not p["wantErr"] and p["desc"] == "happy path" and 0 < p["size1"] <= p["size2"] <= 8:
            proof = tree.consistency_proof(p["size1"], p["size2"])
            assert proof == [_b64(x) for x in p["proof"] or []]
            checked += 1
    assert checked >= 5
