"""The hub's static copy of each list's log, in the C2SP ``tlog-tiles`` layout.

With ``tiles_dir`` set, every note the hub announces (a publication, a
witness's cosignature, a re-cosignature) is first written under
``<tiles_dir>/<list id>/``: the entry bundles and hash tiles the new size
adds (``hashlist.tiles.tiles_between``), then the ``checkpoint``. Any web
server, object store or CDN can then serve reads without touching the hub
(``docs/tiles.md``).

Invariants:

* A tile or bundle is durable (written to a temporary name, fsynced, renamed,
  its directory fsynced) before the checkpoint that covers it is replaced, so
  a reader never sees a checkpoint whose tiles are missing.
* A path is written once: an existing file is compared, never overwritten (a
  file that differs means the folder holds another log's files, and the list
  is no longer tiled, loudly). A partial tile is superseded by a wider path,
  and deleted only once the full tile at its index is durable, as C2SP
  tlog-tiles allows: every checkpoint the hub wrote keeps its tiles readable,
  as partial or full ones.
* The checkpoint never moves back: a note for a smaller size than written, or
  for the same size with an older cosignature time, is ignored. Failures (a
  full disk) are logged and counted; the next announcement tries again from
  what is durable. They never stop the hub's own serving.
* A leaf over ``MAX_ENTRY_BYTES`` (a log-format version 1 leaf) cannot be put
  in a bundle: that list is not tiled, and the log says why.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from hashlist.checkpoint import Checkpoint
from hashlist.errors import HashlistError, MalformedNoteError, StorageError
from hashlist.files import fsync_dir, write_durably
from hashlist.note import parse_note
from hashlist.tiles import (
    CHECKPOINT,
    ENTRIES,
    MAX_ENTRY_BYTES,
    TILE_HEIGHT,
    TILE_WIDTH,
    Tile,
    encode_bundle,
    tiles_between,
)

log = logging.getLogger(__name__)

LeafReader = Callable[[str, int, int], Iterator[bytes]]
"""Leaves ``[start, end)`` of a list, as committed (``HubStore.leaves``)."""
NodeReader = Callable[[str, int, int], bytes]
"""A list's perfect-subtree hash at (height, index) (``Trees.node``)."""


class TileWriter:
    def __init__(self, root: Path, leaves: LeafReader, node: NodeReader) -> None:
        self.root = root
        self._leaves, self._node = leaves, node
        self._lock = threading.Lock()
        self._written: dict[str, tuple[int, int]] = {}  # (size, time) of each checkpoint file
        self._refused: set[str] = set()
        self.failures = 0  # announcements whose files could not be written

    def publish(self, list_id: str, note: bytes) -> bool:
        """Write what ``note`` covers, then ``note`` as the list's checkpoint; False if
        the list is not (or could not be) brought up to it. Never raises."""
        try:
            size, time = _size_and_time(note)
        except MalformedNoteError:
            log.error("tiles: not writing an unreadable note for %s", list_id)
            return False
        with self._lock:
            if list_id in self._refused:
                return False
            try:
                return self._publish(list_id, (size, time), note)
            except _RefusedError as e:
                self._refused.add(list_id)
                log.error("tiles: list %s is no longer written to %s: %s", list_id, self.root, e)
            except (OSError, HashlistError) as e:
                self.failures += 1
                log.error("tiles: could not write %s at size %d (tried again at the next "
                          "checkpoint): %s", list_id, size, e)  # fmt: skip
            return False

    def written(self, list_id: str) -> int:
        with self._lock:
            return self._written.get(list_id, (0, 0))[0]

    def _publish(self, list_id: str, new: tuple[int, int], note: bytes) -> bool:
        folder = self.root / list_id
        written = self._written.get(list_id)
        if written is None:  # the first note since start: what is on disk?
            written = _on_disk(folder / CHECKPOINT)
            if written[0] > new[0]:
                raise _RefusedError(
                    f"it holds a log of {written[0]} leaves, the hub's has {new[0]}"
                )
            self._written[list_id] = written
        if new < written:  # an announcement overtaken by a newer one
            log.debug("tiles: %s: ignoring a note for %s below %s", list_id, new, written)
            return False
        dirs: set[Path] = set()
        tiles = tiles_between(written[0], new[0])
        for tile in tiles:
            _write_once(folder, tile.path, self._content(list_id, tile), dirs)
        for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
            fsync_dir(d)
        _replace(folder / CHECKPOINT, note)
        self._written[list_id] = new
        for tile in tiles:
            if not tile.partial:  # its partials are superseded for every checkpoint
                shutil.rmtree(folder / f"{tile.path}.p", ignore_errors=True)
        return True

    def _content(self, list_id: str, tile: Tile) -> bytes:
        first = tile.first_leaf()
        if tile.level == ENTRIES:
            entries = list(self._leaves(list_id, first, first + tile.width))
            if len(entries) != tile.width:
                raise StorageError(f"{list_id}: leaves {first}+ are not all stored")
            for i, entry in enumerate(entries):
                if len(entry) > MAX_ENTRY_BYTES:
                    raise _RefusedError(f"leaf {first + i} is {len(entry):,} bytes, over the "
                                   f"{MAX_ENTRY_BYTES:,} an entry bundle holds (a format "
                                   "version 1 leaf: see docs/log-format.md)")  # fmt: skip
            return encode_bundle(entries)
        height, start = TILE_HEIGHT * tile.level, tile.index * TILE_WIDTH
        return b"".join(self._node(list_id, height, start + i) for i in range(tile.width))


class _RefusedError(Exception):
    """The folder cannot hold this list's log (stated in the message)."""


def _size_and_time(note: bytes) -> tuple[int, int]:
    """A note's size and newest cosignature time (0 if none): what orders two notes.
    The writer trusts the notes it is given (the hub's own); it only orders them."""
    parsed = parse_note(note)
    times = [
        int.from_bytes(s.signature[:8], "big") for s in parsed.signatures
        if len(s.signature) == _COSIGNATURE_BYTES
    ]  # fmt: skip
    return Checkpoint.parse(parsed.text).size, max(times, default=0)


_COSIGNATURE_BYTES = 8 + 64  # cosignature/v1: timestamp, then the Ed25519 signature


def _on_disk(path: Path) -> tuple[int, int]:
    try:
        return _size_and_time(path.read_bytes())
    except FileNotFoundError:
        return (0, 0)
    except (OSError, MalformedNoteError) as e:
        raise _RefusedError(f"its checkpoint file {path} is unreadable: {e}") from e


def _write_once(folder: Path, relative: str, data: bytes, dirs: set[Path]) -> None:
    path = folder / relative
    try:
        existing = path.read_bytes()
    except FileNotFoundError:
        _make_dirs(path.parent, dirs)
        write_durably(path, data, sync_dir=False)
        existing = data
    if existing != data:
        raise _RefusedError(f"{path} exists with other bytes: the folder holds another log's files")
    dirs.add(path.parent)  # written now or by a run that failed before its fsync


def _make_dirs(path: Path, dirs: set[Path]) -> None:
    """``mkdir -p``, noting each parent whose entries changed, for fsync."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
        dirs.add(d.parent)


def _replace(path: Path, data: bytes) -> None:
    dirs: set[Path] = set()
    _make_dirs(path.parent, dirs)
    write_durably(path, data, sync_dir=False)
    for d in sorted({path.parent, *dirs}, key=lambda p: len(p.parts), reverse=True):
        fsync_dir(d)
