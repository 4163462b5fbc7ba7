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
  is no longer tiled, loudly). A partial tile is superseded by a wider path;
  partials older than the previous checkpoint's are then deleted, so a reader
  holding that checkpoint still finds its tiles.
* The checkpoint never moves back: a note for a smaller size than written is
  ignored. Failures (a full disk) are logged and counted; the next
  announcement tries again from what is durable. They never stop the hub's
  own serving.
* A leaf over ``MAX_ENTRY_BYTES`` (a log-format version 1 leaf) cannot be put
  in a bundle: that list is not tiled, and the log says why.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from hashlist.checkpoint import Checkpoint
from hashlist.errors import HashlistError, MalformedNoteError, StorageError
from hashlist.note import parse_note
from hashlist.tiles import (
    CHECKPOINT,
    ENTRIES,
    MAX_ENTRY_BYTES,
    TILE_HEIGHT,
    TILE_WIDTH,
    Tile,
    encode_bundle,
    partial_tiles,
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
        self._written: dict[str, int] = {}  # size of each list's durable checkpoint file
        self._previous: dict[str, int] = {}  # the size before it, whose partials are kept
        self._refused: set[str] = set()
        self.failures = 0  # announcements whose files could not be written

    def publish(self, list_id: str, note: bytes) -> bool:
        """Write what ``note`` covers, then ``note`` as the list's checkpoint; False if
        the list is not (or could not be) brought up to it. Never raises."""
        try:
            size = Checkpoint.parse(parse_note(note).text).size
        except MalformedNoteError:
            log.error("tiles: not writing an unreadable note for %s", list_id)
            return False
        with self._lock:
            if list_id in self._refused:
                return False
            try:
                return self._publish(list_id, size, note)
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
            return self._written.get(list_id, 0)

    def _publish(self, list_id: str, size: int, note: bytes) -> bool:
        folder = self.root / list_id
        written = self._written.get(list_id)
        if written is None:  # the first note since start: what is on disk?
            written = _size_on_disk(folder / CHECKPOINT)
            if written > size:
                raise _RefusedError(f"it holds a log of {written} leaves, the hub's has {size}")
            self._written[list_id] = written
        if size < written:  # an announcement overtaken by a newer one
            log.debug("tiles: %s: ignoring a note for size %d below %d", list_id, size, written)
            return False
        dirs: set[Path] = set()
        for tile in tiles_between(written, size):
            _write_once(folder / tile.path, self._content(list_id, tile), dirs)
        for d in sorted(dirs):
            _fsync_dir(d)
        _replace(folder / CHECKPOINT, note)
        if size > written:
            self._prune(folder, (self._previous.get(list_id, 0), written), size)
            self._previous[list_id] = written
            self._written[list_id] = size
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

    def _prune(self, folder: Path, older: tuple[int, int], size: int) -> None:
        """Delete the partial tiles of the size before ``older[1]`` that neither the
        previous checkpoint (``older[1]``) nor the new one still names."""
        keep = {t.path for t in partial_tiles(older[1])} | {t.path for t in partial_tiles(size)}
        for tile in partial_tiles(older[0]):
            if tile.path not in keep:
                (folder / tile.path).unlink(missing_ok=True)


class _RefusedError(Exception):
    """The folder cannot hold this list's log (stated in the message)."""


def _size_on_disk(path: Path) -> int:
    try:
        return Checkpoint.parse(parse_note(path.read_bytes()).text).size
    except FileNotFoundError:
        return 0
    except (OSError, MalformedNoteError) as e:
        raise _RefusedError(f"its checkpoint file {path} is unreadable: {e}") from e


def _write_once(path: Path, data: bytes, dirs: set[Path]) -> None:
    try:
        existing = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_durably(path, data)
        dirs.add(path.parent)
        return
    if existing != data:
        raise _RefusedError(f"{path} exists with other bytes: the folder holds another log's files")


def _replace(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_durably(path, data)
    _fsync_dir(path.parent)


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
