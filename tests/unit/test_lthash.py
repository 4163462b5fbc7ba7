"""LtHash16: a set digest that is order-free, invertible and incremental."""

from __future__ import annotations

import hashlib

import blake3
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from hashlist.lthash import ELEMENT_KEY, EMPTY_DIGEST, LANE_BYTES, LtHash16
from tests.strategies import signal_sets, signal_texts


@given(elements=st.lists(signal_texts(), unique=True, max_size=30), seed=st.randoms())
def test_independent_of_insertion_order(elements: list[str], seed: object) -> None:
    shuffled = list(elements)
    seed.shuffle(shuffled)  # type: ignore[attr-defined]
    one_by_one = LtHash16()
    for e in shuffled:
        one_by_one.add([e])
    assert one_by_one == LtHash16.of(elements)
    assert one_by_one.digest() == LtHash16.of(elements).digest()


@given(base=signal_sets, extra=signal_sets)
def test_add_then_remove_is_the_identity(base: frozenset[str], extra: frozenset[str]) -> None:
    state = LtHash16.of(base)
    before = state.digest()
    state.add(extra)
    state.remove(extra)
    assert state.digest() == before


@given(steps=st.lists(st.tuples(signal_sets, st.booleans()), max_size=8))
def test_incremental_equals_recomputed_from_scratch(
    steps: list[tuple[frozenset[str], bool]],
) -> None:
    current: set[str] = set()
    state = LtHash16()
    for elements, removing in steps:
        if removing:
            gone = current & elements
            state.remove(gone)
            current -= gone
        else:
            new = elements - current
            state.add(new)
            current |= new
        assert state.digest() == LtHash16.of(current).digest()
        assert LtHash16(state.to_bytes()) == state


def test_distinct_sets_have_distinct_digests() -> None:
    a, b = "md5:" + "0" * 32, "md5:" + "0" * 31 + "1"
    digests = {LtHash16.of(s).digest() for s in ([], [a], [b], [a, b])}
    assert len(digests) == 4
    assert LtHash16().digest() == EMPTY_DIGEST


def test_construction_matches_the_documented_formula() -> None:
    # docs/log-format.md: lanes = sum of BLAKE3-keyed-XOF(element)[:2048] as
    # little-endian uint16 mod 2^16; digest = SHA-256(lanes as little-endian).
    elements = ["md5:" + "0" * 32, "pdq:" + "f" * 64, "sha256:" + "12" * 32]
    lanes = [0] * 1024
    for e in elements:
        out = blake3.blake3(e.encode(), key=ELEMENT_KEY).digest(LANE_BYTES)
        for i in range(1024):
            lanes[i] = (lanes[i] + int.from_bytes(out[2 * i : 2 * i + 2], "little")) % 65536
    raw = b"".join(x.to_bytes(2, "little") for x in lanes)
    assert LtHash16.of(elements).to_bytes() == raw
    assert LtHash16.of(elements).digest() == hashlib.sha256(raw).digest()


def test_known_answer_vector() -> None:
    # Pinned in docs/log-format.md so an independent verifier can check itself.
    # It changes only if the construction changes, which would be a new format.
    state = LtHash16.of(["md5:" + "0" * 32, "pdq:" + "f" * 64])
    assert state.digest().hex() == KNOWN_DIGEST
    assert hashlib.sha256(bytes(2048)).digest() == EMPTY_DIGEST


def test_chunking_does_not_change_the_result() -> None:
    # More elements than one internal chunk (4096), in one call and in pieces.
    rng = np.random.default_rng(7)
    elements = [f"md5:{rng.bytes(16).hex()}" for _ in range(9000)]
    whole = LtHash16.of(elements)
    pieces = LtHash16()
    for i in range(0, 9000, 1000):
        pieces.add(elements[i : i + 1000])
    assert whole == pieces


KNOWN_DIGEST = "74ed065bc7d1b78223d9413dff23e06297cb9c31da2dfc1e00556e921b7c4a44"
