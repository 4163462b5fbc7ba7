"""The offline audit bundle: a folder anyone can verify with only the trust root.

Layout (``FORMAT`` is the first line of ``MANIFEST``)::

    MANIFEST            "hashlist-audit-bundle/v1", then "list <id>" and "size <n>"
    checkpoint.note     the signed checkpoint, byte for byte as the hub served it
    leaves.bin          every leaf in order, each as an 8-byte big-endian length
                        and the canonical delta bytes
    seen/<k>[.v<n>].note
                        checkpoints the auditor verified on earlier runs (under
                        trust-root version n)
    trust/<n>.note      the signed trust-root versions after the auditor's own, so
                        a bundle made after a key rotation verifies from version 1

Nothing in the bundle is trusted: ``audit verify-bundle`` replays it with
``hashlist.audit.replay_history``, which checks every signature and
recomputes every hash. Reading is streamed, so memory stays bounded by one
leaf (and the replayed set).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from hashlist.audit import KeptNote
from hashlist.delta import DEFAULT_MAX_DELTA_BYTES, validate_list_id
from hashlist.errors import InputError, MalformedDeltaError, OversizedDeltaError

FORMAT = "hashlist-audit-bundle/v1"
_LENGTH = struct.Struct(">Q")


@dataclass(frozen=True)
class Bundle:
    list_id: str
    note: bytes
    leaves: Iterator[bytes]
    seen: list[KeptNote]
    trust_roots: dict[int, bytes]  # signed versions, by version


def write_bundle(
    out: Path,
    list_id: str,
    note: bytes,
    leaves: Iterable[bytes],
    seen: Iterable[KeptNote],
    *,
    trust_roots: Mapping[int, bytes],
) -> int:
    """Write the bundle folder (which must not exist); returns how many leaves it holds."""
    if out.exists():
        raise InputError(f"{out} exists: export into a new folder")
    (out / "seen").mkdir(parents=True)
    (out / "trust").mkdir()
    (out / "checkpoint.note").write_bytes(note)
    count = 0
    with (out / "leaves.bin").open("wb") as f:
        for leaf in leaves:
            f.write(_LENGTH.pack(len(leaf)))
            f.write(leaf)
            count += 1
    for i, kept in enumerate(seen):
        (out / "seen" / f"{i:06d}.v{kept.trust_version}.note").write_bytes(kept.note)
    for version, signed in trust_roots.items():
        (out / "trust" / f"{version:06d}.note").write_bytes(signed)
    (out / "MANIFEST").write_text(f"{FORMAT}\nlist {list_id}\nsize {count}\n")
    return count


_SEEN = re.compile(r"\d{6}(?:\.v(\d{1,9}))?\.note")
_TRUST = re.compile(r"(\d{6})\.note")


def read_bundle(folder: Path) -> Bundle:
    """The bundle in ``folder``; raises ``InputError`` if unreadable. Nothing is verified."""
    try:
        lines = (folder / "MANIFEST").read_text().splitlines()
        note = (folder / "checkpoint.note").read_bytes()
        seen = [
            KeptNote(p.read_bytes(), int(m[1] or 0))
            for p in sorted((folder / "seen").glob("*.note"))
            if (m := _SEEN.fullmatch(p.name))
        ]
        trust = {
            int(m[1]): p.read_bytes()
            for p in sorted((folder / "trust").glob("*.note"))  # absent in older bundles
            if (m := _TRUST.fullmatch(p.name))
        }
    except OSError as e:
        raise InputError(f"{folder}: not an audit bundle ({e.strerror or e})") from e
    if not lines or lines[0] != FORMAT or len(lines) < 2 or not lines[1].startswith("list "):
        raise InputError(f"{folder}/MANIFEST: expected {FORMAT!r} and a list line")
    list_id = validate_list_id(lines[1].removeprefix("list "))
    return Bundle(list_id, note, _leaves(folder / "leaves.bin"), seen, trust)


def _leaves(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while head := f.read(_LENGTH.size):
            if len(head) != _LENGTH.size:
                raise MalformedDeltaError(f"{path}: truncated length prefix")
            (n,) = _LENGTH.unpack(head)
            if n > DEFAULT_MAX_DELTA_BYTES:
                raise OversizedDeltaError(
                    f"{path}: a leaf of {n} bytes is over the {DEFAULT_MAX_DELTA_BYTES}-byte limit"
                )
            leaf = f.read(n)
            if len(leaf) != n:
                raise MalformedDeltaError(f"{path}: truncated leaf")
            yield leaf
