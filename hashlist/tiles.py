"""The C2SP ``tlog-tiles`` layout of a log: paths, which tiles a size needs, bundles.

Pure functions and values shared by the hub, which writes a list's log as
static files, and the node, which reads them back from any web server:

* a **hash tile** ``tile/<L>/<N>[.p/<W>]`` holds, for ``i`` in ``0..W-1``, the
  Merkle Tree Hash of the ``256**L`` leaves starting at ``(N*256 + i) * 256**L``
  (level 0: leaf hashes); a full tile has ``W = 256`` and no ``.p/<W>`` suffix;
* an **entry bundle** ``tile/entries/<N>[.p/<W>]`` holds entries ``N*256`` to
  ``N*256 + W - 1``, each as a big-endian uint16 length and the entry's bytes,
  so an entry is at most ``MAX_ENTRY_BYTES``;
* a tree of size ``s`` has, at level ``L``, ``floor(s / 256**L)`` hashes: full
  tiles, then one partial tile of ``floor(s / 256**L) mod 256`` hashes unless
  that is 0 (empty tiles do not exist);
* ``<N>`` is written in groups of three decimal digits, all but the last
  prefixed with ``x``: 1234067 is ``x001/x234/067``.

Invariant: a path always names the same bytes in a given log, so a file is
written once and never changed; a partial tile is superseded by a wider
path, never rewritten.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from hashlist.errors import VerificationError

TILE_WIDTH = 256
TILE_HEIGHT = 8  # log2(TILE_WIDTH): a tile is a subtree of height 8
MAX_ENTRY_BYTES = 0xFFFF  # the uint16 length prefix of an entry bundle
MAX_LEVEL = 63
HASH_BYTES = 32
MAX_BUNDLE_BYTES = TILE_WIDTH * (2 + MAX_ENTRY_BYTES)
MAX_TILE_BYTES = TILE_WIDTH * HASH_BYTES
CHECKPOINT = "checkpoint"


class TileError(VerificationError):
    """A tile or entry bundle that is not what its path and the checkpoint require."""


@dataclass(frozen=True, slots=True, order=True)
class Tile:
    """One hash tile (``level >= 0``) or entry bundle (``level == -1``, ``ENTRIES``)."""

    level: int
    index: int
    width: int

    @property
    def partial(self) -> bool:
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        """Relative to the log's prefix, e.g. ``tile/0/x001/234.p/7``."""
        kind = "entries" if self.level == ENTRIES else str(self.level)
        suffix = f".p/{self.width}" if self.partial else ""
        return f"tile/{kind}/{encode_index(self.index)}{suffix}"

    def first_leaf(self) -> int:
        """The first leaf this tile or bundle covers."""
        return self.index << (TILE_HEIGHT * (max(self.level, 0) + 1))


ENTRIES = -1  # the ``level`` of an entry bundle


def encode_index(index: int) -> str:
    if index < 0:
        raise ValueError(f"tile index {index} is negative")
    digits = str(index)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


_PATH = re.compile(
    r"tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?"
)


def parse_path(path: str) -> Tile:
    """The tile a path names; ``ValueError`` for anything the layout does not produce."""
    m = _PATH.fullmatch(path)
    if m is None:
        raise ValueError(f"{path[:100]!r} is not a tile path")
    kind, index_text, width_text = m.groups()
    level = ENTRIES if kind == "entries" else int(kind)
    width = int(width_text) if width_text else TILE_WIDTH
    if width_text and width >= TILE_WIDTH:
        raise ValueError(f"{path[:100]!r} is not a tile path")
    index = int(index_text.replace("x", "").replace("/", ""))
    if level > MAX_LEVEL or width > TILE_WIDTH or encode_index(index) != index_text:
        raise ValueError(f"{path[:100]!r} is not a tile path")
    return Tile(level, index, width)


def hashes_at(level: int, size: int) -> int:
    """How many hashes level ``level`` has in a tree of ``size`` leaves."""
    return size >> (TILE_HEIGHT * max(level, 0))


def tiles_between(old: int, new: int) -> list[Tile]:
    """The tiles and bundles a tree of size ``new`` has that one of size ``old`` lacks:
    every one whose width grew, in the order they can be written (bundles, then
    hash tiles level by level)."""
    if not 0 <= old <= new:
        raise ValueError(f"no tiles from size {old} to {new}")
    out: list[Tile] = []
    for level in range(ENTRIES, MAX_LEVEL + 1):
        have, want = hashes_at(level, old), hashes_at(level, new)
        if want == 0:
            break
        for index in range(have // TILE_WIDTH, -(-want // TILE_WIDTH)):
            width = min(TILE_WIDTH, want - index * TILE_WIDTH)
            if width > max(0, have - index * TILE_WIDTH):
                out.append(Tile(level, index, width))
    return out


def partial_tiles(size: int) -> list[Tile]:
    """The partial bundle and hash tiles a tree of ``size`` has (none where a level's
    count is a multiple of 256)."""
    out = []
    for level in range(ENTRIES, MAX_LEVEL + 1):
        count = hashes_at(level, size)
        if count == 0:
            break
        if count % TILE_WIDTH:
            out.append(Tile(level, count // TILE_WIDTH, count % TILE_WIDTH))
    return out


def bundles_for(start: int, end: int, size: int) -> Iterator[Tile]:
    """The entry bundles holding entries ``[start, end)`` of a log of ``size`` entries
    (full where the log has them, else the checkpoint's partial one)."""
    if not 0 <= start <= end <= size:
        raise ValueError(f"entries [{start}, {end}) are not in a log of {size}")
    for index in range(start // TILE_WIDTH, -(-end // TILE_WIDTH)):
        yield Tile(ENTRIES, index, min(TILE_WIDTH, size - index * TILE_WIDTH))


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_BYTES:
            raise ValueError(f"an entry of {len(entry):,} bytes does not fit a bundle")
        out += struct.pack(">H", len(entry)) + entry
    return bytes(out)


def decode_bundle(data: bytes, tile: Tile) -> list[bytes]:
    """The entries of a bundle fetched for ``tile``: exactly ``tile.width`` of them,
    with no byte left over; ``TileError`` otherwise."""
    entries: list[bytes] = []
    at = 0
    while at < len(data):
        if at + 2 > len(data):
            raise TileError(f"{tile.path}: truncated length prefix at byte {at}")
        (n,) = struct.unpack_from(">H", data, at)
        if at + 2 + n > len(data):
            raise TileError(f"{tile.path}: entry {len(entries)} runs past the bundle's end")
        entries.append(data[at + 2 : at + 2 + n])
        at += 2 + n
        if len(entries) > tile.width:
            break
    if len(entries) != tile.width:
        raise TileError(f"{tile.path}: holds {len(entries)} entries, not {tile.width}")
    return entries


def decode_tile(data: bytes, tile: Tile) -> list[bytes]:
    """The hashes of a hash tile fetched for ``tile``; ``TileError`` if its length is wrong."""
    if len(data) != tile.width * HASH_BYTES:
        raise TileError(f"{tile.path}: {len(data)} bytes, not {tile.width} hashes")
    return [data[i : i + HASH_BYTES] for i in range(0, len(data), HASH_BYTES)]


__all__ = [
    "CHECKPOINT",
    "ENTRIES",
    "MAX_BUNDLE_BYTES",
    "MAX_ENTRY_BYTES",
    "MAX_TILE_BYTES",
    "Tile",
    "TileError",
    "bundles_for",
    "decode_bundle",
    "decode_tile",
    "encode_bundle",
    "encode_index",
    "parse_path",
    "partial_tiles",
    "tiles_between",
]
