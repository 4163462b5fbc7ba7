"""The offline audit bundle: a folder anyone can verify with only the trust root.

Layout (``FORMAT`` is the first line of ``MANIFEST``)::

    MANIFEST            "hashlist-audit-bundle/v1", then "list <id>" and "size <n>"
    checkpoint.note     the signed checkpoint, byte for byte as the hub served it
    leaves.bin          every leaf in order, each as an 8-byte big-endian length
                        and the canonical delta bytes
    seen/<k>.note       checkpoints the auditor verified on earlier runs

Nothing in the bundle is trusted: ``audit verify-bundle`` replays it with
``hashlist.audit.replay_history``, which checks every signature and
recomputes every hash. Reading is streamed, so memory stays bounded by one
leaf (and the replayed set).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

from hashlist.delta import DEFAULT_MAX_DELTA_BYTES, validate_list_id
from hashlist.errors import InputError, MalformedDeltaError

FORMAT = "hashlist-audit-bundle/v1"
_LENGTH = struct.Struct(">Q")


def write_bundle(
    out: Path, list_id: str, note: bytes, leaves: Iterable[bytes], seen: Iterable[bytes]
) -> int:
    """Write the bundle folder (which must not exist); returns how many leaves it holds."""
    if out.exists():
        raise InputError(f"{out} exists: export into a new folder")
    (out / "seen").mkdir(parents=True)
    (out / "checkpoint.note").write_bytes(note)
    count = 0
    with (out / "leaves.bin").open("wb") as f:
        for leaf in leaves:
            f.write(_LENGTH.pack(len(leaf)))
            f.write(leaf)
            count += 1
    for i, n in enumerate(seen):
        (out / "seen" / f"{i:06d}.note").write_bytes(n)
    (out / "MANIFEST").write_text(f"{FORMAT}\nlist {list_id}\nsize {count}\n")
    return count


def read_bundle(folder: Path) -> tuple[str, bytes, Iterator[bytes], list[bytes]]:
    """(list id, checkpoint note, leaves, earlier notes); raises ``InputError`` if unreadable."""
    try:
        lines = (folder / "MANIFEST").read_text().splitlines()
        note = (folder / "checkpoint.note").read_bytes()
        seen = [p.read_bytes() for p in sorted((folder / "seen").glob("*.note"))]
    except OSError as e:
        raise InputError(f"{folder}: not an audit bundle ({e.strerror or e})") from e
    if not lines or lines[0] != FORMAT or len(lines) < 2 or not lines[1].startswith("list "):
        raise InputError(f"{folder}/MANIFEST: expected {FORMAT!r} and a list line")
    list_id = validate_list_id(lines[1].removeprefix("list "))
    return list_id, note, _leaves(folder / "leaves.bin"), seen


def _leaves(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while head := f.read(_LENGTH.size):
            if len(head) != _LENGTH.size:
                raise MalformedDeltaError(f"{path}: truncated length prefix")
            (n,) = _LENGTH.unpack(head)
            if n > DEFAULT_MAX_DELTA_BYTES:
                raise MalformedDeltaError(f"{path}: a leaf of {n} bytes is over the limit")
            leaf = f.read(n)
            if len(leaf) != n:
                raise MalformedDeltaError(f"{path}: truncated leaf")
            yield leaf
