"""LtHash16: the homomorphic state digest of a list's set of signals.

Construction (Lewi et al., "Securing Update Propagation with Homomorphic
Hashing", IACR ePrint 2019/227; folly's ``LtHash<16, 1024>``):

* The state is a vector of 1024 lanes, each an unsigned 16-bit integer; the
  empty set is all zeros.
* An element is the ASCII of a canonical signal, ``kind:hex``. Its hash is
  the first 2048 bytes of BLAKE3 in keyed XOF mode, key ``ELEMENT_KEY`` (the 32
  ASCII bytes ``hashlist/lthash16/v1 element key``), read as 1024
  little-endian uint16 lanes. (folly uses BLAKE2xb; BLAKE3 is the same
  family's XOF and measured 3-4x faster here than hashlib's SHAKE128.)
* Adding an element adds its hash lane-wise modulo 2^16; removing subtracts.
  So the state is independent of order, and add-then-remove is the identity.
* The digest is ``SHA-256`` of the 2048-byte little-endian lane vector.

Invariant: the state is a pure function of the *multiset* of elements added
minus those removed. That a list is a set (no element added twice) is enforced
by the delta rules in ``verify.py``, not here.

Cost: one XOF call per element plus a vectorised sum over chunks of
``_CHUNK`` elements, so memory stays at ``_CHUNK * 2 KiB`` whatever the input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from itertools import islice

import blake3
import numpy as np
import numpy.typing as npt

LANES = 1024
LANE_BYTES = 2 * LANES
ELEMENT_KEY = b"hashlist/lthash16/v1 element key"
_CHUNK = 4096
_DTYPE = np.dtype("<u2")


def element_hash(element: str) -> bytes:
    """The 2048-byte XOF output for one canonical signal."""
    return bytes(blake3.blake3(element.encode("ascii"), key=ELEMENT_KEY).digest(LANE_BYTES))


def _sum_hashes(elements: Iterable[str]) -> npt.NDArray[np.uint16]:
    total = np.zeros(LANES, dtype=np.uint16)
    b3 = blake3.blake3
    it = iter(elements)
    while chunk := list(islice(it, _CHUNK)):
        buf = b"".join([b3(e.encode("ascii"), key=ELEMENT_KEY).digest(LANE_BYTES) for e in chunk])
        # dtype=uint16 makes numpy accumulate modulo 2^16, which is the lane arithmetic.
        total += np.frombuffer(buf, dtype=_DTYPE).reshape(-1, LANES).sum(axis=0, dtype=np.uint16)
    return total


class LtHash16:
    """A mutable LtHash16 state. ``to_bytes``/``from_bytes`` persist it exactly."""

    __slots__ = ("_lanes",)

    def __init__(self, lanes: bytes | None = None) -> None:
        if lanes is None:
            self._lanes = np.zeros(LANES, dtype=np.uint16)
        else:
            if len(lanes) != LANE_BYTES:
                raise ValueError(f"LtHash16 state is {LANE_BYTES} bytes, got {len(lanes)}")
            self._lanes = np.frombuffer(lanes, dtype=_DTYPE).astype(np.uint16)

    @classmethod
    def of(cls, elements: Iterable[str]) -> LtHash16:
        state = cls()
        state.add(elements)
        return state

    def add(self, elements: Iterable[str]) -> None:
        self._lanes += _sum_hashes(elements)

    def remove(self, elements: Iterable[str]) -> None:
        self._lanes -= _sum_hashes(elements)

    def update(self, additions: Iterable[str], removals: Iterable[str]) -> None:
        self.add(additions)
        self.remove(removals)

    def copy(self) -> LtHash16:
        return LtHash16(self.to_bytes())

    def to_bytes(self) -> bytes:
        return self._lanes.astype(_DTYPE).tobytes()

    def digest(self) -> bytes:
        return hashlib.sha256(self.to_bytes()).digest()

    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LtHash16):
            return NotImplemented
        return bool(np.array_equal(self._lanes, other._lanes))

    def __repr__(self) -> str:
        return f"LtHash16(digest={self.digest().hex()[:16]}...)"


EMPTY_DIGEST = LtHash16().digest()
