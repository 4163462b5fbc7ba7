"""An independent reader of a transparency log published as C2SP tlog-tiles.

This module is written from the public specifications only (C2SP ``tlog-tiles``,
``tlog-checkpoint``, ``signed-note``, and RFC 6962 section 2.1) and shares no code
with the project whose files it checks. It imports only the standard library and
``cryptography``. ``read_tiles`` fetches the checkpoint, every entry bundle and every
tile the checkpoint's tree size requires, checks each against the others, and
returns the log's entries; anything wrong raises ``TilesError`` naming the path.

Rules implemented, by specification section
-------------------------------------------

signed-note, "Format":
  * the note is UTF-8, at most 64 KiB (a limit of our choosing: the spec asks for
    one), with no control character below U+0020 other than newline, and ends in a
    newline;
  * the text is everything up to and including the newline before the *last* empty
    line; after that come one or more lines ``— <name> <base64>`` (em dash U+2014,
    space, key name, space, standard padded base64, newline);
  * key names are non-empty and contain no Unicode space and no ``+``.

signed-note, "Signatures" and "Ed25519 signatures":
  * the signature blob is ``key ID (4 bytes, big-endian) || signature``;
  * key ID = ``SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4]``; the
    verifier key string ``name+<8 hex>+base64(0x01 || public key)`` must carry that
    ID (its base64 may itself contain ``+``, so it is split at the first two only);
  * a line whose (name, key ID) is not the log's is ignored (cosignatures, other
    keys, even a same-named key of another type); a line that is the log's must
    verify (Ed25519 over the note text, 64 bytes) or the note is rejected; at least
    one must be present.

tlog-checkpoint, "Note text":
  * origin (non-empty, must equal the expected one), tree size in ASCII decimal
    with no leading zero (``0`` for the empty tree), base64 of the 32-byte root;
  * extension lines are allowed by the spec, but hashlist's checkpoints have none
    (docs/log-format.md section 4), so a fourth line is rejected here.

tlog-tiles, "Merkle Tree":
  * path ``tile/<L>/<N>[.p/<W>]``; ``<L>`` decimal without leading zeros (0..63);
    ``<N>`` in zero-padded groups of three digits, every group but the last
    prefixed ``x`` (``0`` -> ``000``, ``1000`` -> ``x001/000``, ``1234067`` ->
    ``x001/x234/067``); the ``.p/<W>`` suffix only on partial tiles;
  * a full tile is exactly 256 hashes (8,192 bytes); a tile of width W is exactly
    W * 32 bytes;
  * the n-th tile at level l holds MTH(D[(n*256+i) * 256**l : (n*256+i+1) * 256**l])
    for i = 0..W-1: level 0 holds leaf hashes, and each hash at level l >= 1 is the
    MTH of a *full* tile at level l-1 (the root of the height-8 subtree over its
    256 hashes).

tlog-tiles, "Partial Tiles":
  * for tree size s, level l has ``s // 256**(l+1)`` full tiles and, when
    ``w = (s // 256**l) % 256`` is non-zero, one partial tile of width w at index
    ``s // 256**(l+1)``; a partial tile is never hashed into the level above;
  * levels exist while ``s // 256**l > 0``, so partial tiles are needed at higher
    levels too (size 256: a full ``tile/0/000`` and a partial ``tile/1/000.p/1``;
    size 70,000: 273 full and a width-112 partial at level 0, one full and a
    width-17 partial at level 1, a width-1 partial at level 2); the empty tree has
    no tiles;
  * the log MUST serve the partial tiles of a checkpointed size, so a missing one is
    an error.

tlog-tiles, "Log entries":
  * bundle ``tile/entries/<N>[.p/<W>]`` with the same index encoding and widths as
    level 0 (full bundles of 256 entries, the last one partial of width s % 256);
  * a bundle is a sequence of entries, each a big-endian uint16 length then that
    many bytes; it must hold exactly W entries with no bytes left over;
  * entry i of bundle N hashes (RFC 6962 leaf hash) to hash i of level-0 tile N.

RFC 6962 section 2.1:
  * MTH({}) = SHA-256(), leaf hash = SHA-256(0x00 || d), node hash =
    SHA-256(0x01 || left || right), splitting n > 1 leaves at the largest power
    of two k < n. The root for size s is computed with this recursion, taking a
    subtree of 256**l leaves aligned on its size from the level-l tiles (checked
    against the levels below), and must equal the checkpoint's root hash.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # hashes in a full tile, entries in a full bundle
HASH_SIZE = 32
MAX_LEVEL = 63
MAX_NOTE_BYTES = 64 * 1024
ED25519_TYPE = 0x01
EM_DASH = "\u2014"

_SIZE_RE = re.compile(r"0|[1-9][0-9]*")
_KEY_ID_RE = re.compile(r"[0-9a-fA-F]{8}")

Fetch = Callable[[str], bytes]


class TilesError(Exception):
    """The published files are not a valid tiled log for this origin and key."""


@dataclass(frozen=True)
class TiledLog:
    """What a verified tiled log holds at its checkpoint."""

    origin: str
    size: int
    root: bytes
    entries: list[bytes]


# --- paths (tlog-tiles "Merkle Tree", "Partial Tiles", "Log entries") ---------


def encode_index(index: int) -> str:
    """A tile index as zero-padded three-digit path elements, all but the last ``x``-prefixed."""
    if index < 0:
        raise ValueError(f"negative tile index {index}")
    digits = str(index)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def _suffix(width: int) -> str:
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width {width} is not in 1..{TILE_WIDTH}")
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]``."""
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"tile level {level} is not in 0..{MAX_LEVEL}")
    return f"tile/{level}/{encode_index(index)}{_suffix(width)}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """``tile/entries/<N>[.p/<W>]``."""
    return f"tile/entries/{encode_index(index)}{_suffix(width)}"


def _span(level: int) -> int:
    """How many entries one hash at ``level`` covers: 256**level."""
    return 1 << (TILE_HEIGHT * level)


def tiles_at_level(size: int, level: int) -> list[tuple[int, int]]:
    """The (index, width) of every tile at ``level`` for a tree of ``size`` entries.

    Full tiles first; then, if ``(size // 256**level) % 256`` is not zero, the one
    partial tile of that width. Empty for a level above the tree's top.
    """
    full, rest = divmod(size // _span(level), TILE_WIDTH)
    tiles = [(n, TILE_WIDTH) for n in range(full)]
    if rest:
        tiles.append((full, rest))
    return tiles


def tile_levels(size: int) -> int:
    """How many levels of tiles a tree of ``size`` entries has (0 for the empty tree)."""
    levels = 0
    while size // _span(levels):
        levels += 1
    return levels


# --- RFC 6962 hashing ---------------------------------------------------------


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def _full_tile_root(hashes: Sequence[bytes]) -> bytes:
    """MTH of a full tile: its 256 hashes are the leaves of a perfect subtree of height 8."""
    if len(hashes) != TILE_WIDTH:
        raise ValueError(f"a full tile has {TILE_WIDTH} hashes, not {len(hashes)}")
    layer = list(hashes)
    while len(layer) > 1:
        layer = [node_hash(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
    return layer[0]


def _subtree_hash(levels: Sequence[Sequence[bytes]], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) (RFC 6962), read from the highest level of tiles that holds it.

    ``levels[l][j]`` is MTH(D[j * 256**l : (j + 1) * 256**l]). In the recursion every
    left subtree is a power of two aligned on its size, so it is either one of those
    hashes or splits down to them.
    """
    n = hi - lo
    for level in range(len(levels) - 1, -1, -1):
        span = _span(level)
        if n == span and lo % span == 0:
            return levels[level][lo // span]
    k = 1 << ((n - 1).bit_length() - 1)  # the largest power of two below n
    return node_hash(_subtree_hash(levels, lo, lo + k), _subtree_hash(levels, lo + k, hi))


# --- signed notes and checkpoints ----------------------------------------------


def _b64decode(text: str, what: str) -> bytes:
    """Standard, padded, canonical base64 (RFC 4648 section 4)."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as e:
        raise TilesError(f"{what}: not base64 ({e})") from e
    if base64.b64encode(raw).decode("ascii") != text:
        raise TilesError(f"{what}: not canonical base64")
    return raw


def _check_key_name(name: str, what: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise TilesError(f"{what}: bad key name {name!r}")


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: bytes
    public_key: bytes


def parse_verifier_key(text: str) -> VerifierKey:
    """Parse ``name+<8 hex key ID>+base64(0x01 || Ed25519 public key)``."""
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise TilesError(f"log key {text!r}: not name+keyid+key")
    name, hex_id, encoded = parts
    _check_key_name(name, "log key")
    if not _KEY_ID_RE.fullmatch(hex_id):
        raise TilesError(f"log key {text!r}: key ID is not 8 hex digits")
    raw = _b64decode(encoded, "log key")
    if len(raw) != 1 + 32 or raw[0] != ED25519_TYPE:
        raise TilesError(f"log key {text!r}: not type 0x01 with a 32-byte Ed25519 key")
    public_key = raw[1:]
    if key_id(name, ED25519_TYPE, public_key) != bytes.fromhex(hex_id):
        raise TilesError(f"log key {text!r}: key ID does not match the name and key")
    return VerifierKey(name, bytes.fromhex(hex_id), public_key)


def _split_note(note: bytes, what: str) -> tuple[bytes, list[str]]:
    """The note text (bytes, with its final newline) and its signature lines."""
    if len(note) > MAX_NOTE_BYTES:
        raise TilesError(f"{what}: note is {len(note)} bytes, over {MAX_NOTE_BYTES}")
    try:
        text = note.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TilesError(f"{what}: not UTF-8 ({e})") from e
    if any(c < " " and c != "\n" for c in text):
        raise TilesError(f"{what}: contains a control character other than newline")
    if not text.endswith("\n"):
        raise TilesError(f"{what}: does not end in a newline")
    cut = text.rfind("\n\n")
    if cut < 0:
        raise TilesError(f"{what}: no empty line before the signatures")
    body, signatures = text[: cut + 1], text[cut + 2 :]
    if not signatures:
        raise TilesError(f"{what}: no signature lines")
    return body.encode("utf-8"), signatures.split("\n")[:-1]


def open_note(note: bytes, log_key: str, *, what: str = "checkpoint") -> bytes:
    """Verify a signed note by the log key; return its text (the signed bytes)."""
    key = parse_verifier_key(log_key)
    body, lines = _split_note(note, what)
    signed = False
    for line in lines:
        fields = line.split(" ")
        if len(fields) != 3 or fields[0] != EM_DASH:
            raise TilesError(f"{what}: malformed signature line {line!r}")
        name, blob = fields[1], _b64decode(fields[2], f"{what}: signature of {fields[1]!r}")
        _check_key_name(name, what)
        if len(blob) < 5:
            raise TilesError(f"{what}: signature of {name!r} is too short")
        if name != key.name or blob[:4] != key.key_id:
            continue  # not the log's key: a cosignature or some other signer
        if len(blob) != 4 + 64:
            raise TilesError(f"{what}: the log's signature is not 64 bytes")
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(blob[4:], body)
        except InvalidSignature as e:
            raise TilesError(f"{what}: the log's signature does not verify") from e
        signed = True
    if not signed:
        raise TilesError(f"{what}: no signature by the log key {key.name}+{key.key_id.hex()}")
    return body


def parse_checkpoint(body: bytes, *, what: str = "checkpoint") -> tuple[str, int, bytes]:
    """(origin, tree size, root hash) of a checkpoint's note text."""
    lines = body.decode("utf-8").split("\n")[:-1]
    if len(lines) < 3:
        raise TilesError(f"{what}: {len(lines)} lines, a checkpoint has 3")
    if len(lines) > 3:
        raise TilesError(f"{what}: has extension lines, which hashlist does not use")
    origin, size_text, root_text = lines
    if not origin:
        raise TilesError(f"{what}: empty origin")
    if not _SIZE_RE.fullmatch(size_text):
        raise TilesError(f"{what}: tree size {size_text!r} is not decimal without leading zeros")
    root = _b64decode(root_text, f"{what}: root hash")
    if len(root) != HASH_SIZE:
        raise TilesError(f"{what}: root hash is {len(root)} bytes, not {HASH_SIZE}")
    return origin, int(size_text), root


# --- tiles and bundles ---------------------------------------------------------


def _get(fetch: Fetch, path: str, size: int | None) -> bytes:
    try:
        return fetch(path)
    except FileNotFoundError as e:
        needed = "" if size is None else f", and a tree of size {size} needs it"
        raise TilesError(f"{path}: missing{needed}") from e


def _hash_tile(fetch: Fetch, path: str, width: int, size: int) -> list[bytes]:
    data = _get(fetch, path, size)
    if len(data) != width * HASH_SIZE:
        raise TilesError(
            f"{path}: {len(data)} bytes, a tile of width {width} is {width * HASH_SIZE}"
        )
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def split_bundle(data: bytes, width: int, path: str) -> list[bytes]:
    """The entries of a bundle: big-endian uint16 length prefixes; exactly ``width`` of them."""
    entries: list[bytes] = []
    at = 0
    while at < len(data):
        if len(entries) == width:
            raise TilesError(f"{path}: more than the {width} entries the bundle should hold")
        if at + 2 > len(data):
            raise TilesError(f"{path}: truncated length prefix at byte {at}")
        length = int.from_bytes(data[at : at + 2], "big")
        if at + 2 + length > len(data):
            raise TilesError(f"{path}: entry {len(entries)} runs past the end of the bundle")
        entries.append(data[at + 2 : at + 2 + length])
        at += 2 + length
    if len(entries) != width:
        raise TilesError(f"{path}: {len(entries)} entries, the bundle should hold {width}")
    return entries


def _read_level_zero(fetch: Fetch, size: int) -> tuple[list[bytes], list[bytes]]:
    """Every entry, and the level-0 hashes, each checked against its entry."""
    entries: list[bytes] = []
    hashes: list[bytes] = []
    for index, width in tiles_at_level(size, 0):
        bundle = entries_path(index, width)
        got = split_bundle(_get(fetch, bundle, size), width, bundle)
        tile = tile_path(0, index, width)
        tile_hashes = _hash_tile(fetch, tile, width, size)
        for i, (entry, h) in enumerate(zip(got, tile_hashes, strict=True)):
            if leaf_hash(entry) != h:
                raise TilesError(
                    f"{tile}: hash {i} is not the leaf hash of entry {i} of {bundle} "
                    f"(log entry {index * TILE_WIDTH + i})"
                )
        entries.extend(got)
        hashes.extend(tile_hashes)
    return entries, hashes


def _read_level(fetch: Fetch, size: int, level: int, below: Sequence[bytes]) -> list[bytes]:
    """The hashes of ``level`` >= 1, each checked against the full tile below it."""
    hashes: list[bytes] = []
    for index, width in tiles_at_level(size, level):
        tile = tile_path(level, index, width)
        for i, h in enumerate(_hash_tile(fetch, tile, width, size)):
            child = index * TILE_WIDTH + i  # the full tile one level down
            start = child * TILE_WIDTH
            if _full_tile_root(below[start : start + TILE_WIDTH]) != h:
                raise TilesError(
                    f"{tile}: hash {i} is not the Merkle Tree Hash of {tile_path(level - 1, child)}"
                )
            hashes.append(h)
    return hashes


def read_tiles(fetch: Fetch, *, origin: str, log_key: str) -> TiledLog:
    """Read and verify a whole tiled log: checkpoint, every bundle and every tile.

    ``fetch(path)`` returns the bytes at a path relative to the log's prefix, or
    raises ``FileNotFoundError``. Raises ``TilesError`` on anything wrong.
    """
    body = open_note(_get(fetch, "checkpoint", None), log_key)
    got_origin, size, root = parse_checkpoint(body)
    if got_origin != origin:
        raise TilesError(f"checkpoint: origin {got_origin!r}, expected {origin!r}")
    entries, leaves = _read_level_zero(fetch, size)
    levels = [leaves]
    for level in range(1, tile_levels(size)):
        levels.append(_read_level(fetch, size, level, levels[-1]))
    computed = EMPTY_ROOT if size == 0 else _subtree_hash(levels, 0, size)
    if computed != root:
        raise TilesError(
            f"checkpoint: root hash {base64.b64encode(root).decode()} is not the root "
            f"{base64.b64encode(computed).decode()} of the tiles for size {size}"
        )
    return TiledLog(origin=got_origin, size=size, root=root, entries=entries)


# --- command line --------------------------------------------------------------


def directory_fetch(directory: Path) -> Fetch:
    """A ``fetch`` reading paths under a directory (the log's prefix)."""

    def fetch(path: str) -> bytes:
        target = directory / path
        if not target.is_file():
            raise FileNotFoundError(str(target))
        return target.read_bytes()

    return fetch


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a C2SP tlog-tiles log in a directory.")
    parser.add_argument("directory", type=Path, help="the log's prefix: holds checkpoint, tile/")
    parser.add_argument("--origin", required=True, help="the expected checkpoint origin")
    parser.add_argument("--key", required=True, help="the log's verifier key name+id+key")
    args = parser.parse_args(argv)
    try:
        log = read_tiles(directory_fetch(args.directory), origin=args.origin, log_key=args.key)
    except TilesError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"ok: {log.size} entries, root {base64.b64encode(log.root).decode()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
