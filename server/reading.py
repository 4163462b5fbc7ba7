"""The hub's read path: checkpoints, leaves, proofs, snapshots, status, trust roots.

Everything here reads the store or the in-memory trees and changes nothing.
Ranges are checked against the list's current size before any read, with an
``InputError`` naming the valid range. A snapshot is read inside one store
snapshot (one version of the list) and streamed in batches, so the hub never
holds a whole list in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from hashlist.errors import InputError, NotFoundError, StorageError
from hashlist.lthash import LtHash16
from hashlist.model import ListStatus
from hashlist.snapshot import SnapshotHeader
from server.access import Access
from server.store import HubStore, SnapshotView
from server.trees import Trees


class LogReader:
    def __init__(
        self, *, store: HubStore, trees: Trees, access: Access, trust_roots: Mapping[int, bytes]
    ) -> None:
        self.store, self.trees, self.access = store, trees, access
        self.trust_roots = dict(trust_roots)

    def checkpoint(self, list_id: str) -> bytes:
        return self.access.list_row(list_id).latest_note

    def trust_root(self, version: int) -> bytes:
        """Signed trust-root ``version`` as configured; nodes verify the chain themselves."""
        if version not in self.trust_roots:
            newest = max(self.trust_roots, default=0)
            raise NotFoundError(f"no trust root version {version} (newest served: {newest})")
        return self.trust_roots[version]

    def leaf_batches(
        self, list_id: str, start: int, end: int, batch_bytes: int
    ) -> Iterator[tuple[int, list[bytes]]]:
        size = self.access.list_row(list_id).size
        if not 0 <= start <= end <= size:
            raise InputError(f"leaf range [{start}, {end}) is outside [0, {size}] of {list_id}")
        batch: list[bytes] = []
        batch_start, used = start, 0
        for i, leaf in enumerate(self.store.leaves(list_id, start, end), start=start):
            if batch and used + len(leaf) > batch_bytes:
                yield batch_start, batch
                batch, batch_start, used = [], i, 0
            batch.append(leaf)
            used += len(leaf)
        if batch:
            yield batch_start, batch

    def inclusion_proof(self, list_id: str, index: int, size: int) -> list[bytes]:
        self.access.list_row(list_id)
        return self.trees.inclusion_proof(list_id, index, size)

    def consistency_proof(self, list_id: str, first: int, second: int) -> list[bytes]:
        self.access.list_row(list_id)
        return self.trees.consistency_proof(list_id, first, second)

    def snapshot(
        self, list_id: str, from_size: int, batch: int
    ) -> Iterator[SnapshotHeader | tuple[list[tuple[str, int]], list[bytes]]]:
        """The header, then batches of (signal, version), all of one version of the list,
        each with the frame sets of the videos among them, in their order."""
        self.access.list_row(list_id)
        with self.store.snapshot(list_id) as view:
            size = view.row.size
            if size == 0:
                raise InputError(f"list {list_id} is empty: there is nothing to snapshot")
            if not 0 <= from_size <= size:
                raise InputError(f"from_size {from_size} is beyond the list's size {size}")
            consistency = (
                tuple(self.trees.consistency_proof(list_id, from_size, size)) if from_size else ()
            )
            yield SnapshotHeader(
                view.row.latest_note,
                self.trees.compact_range(list_id, size),
                view.leaf(size - 1),
                tuple(self.trees.inclusion_proof(list_id, size - 1, size)),
                consistency,
                view.row.hashes,
            )
            chunk: list[tuple[str, int]] = []
            videos = 0
            for item in view.members():
                chunk.append(item)
                videos += item[0].startswith("vpdq:")
                # A video brings up to 58 KB of frames: 64 of them keep a batch near 4 MiB.
                if len(chunk) >= batch or videos >= _VIDEOS_PER_BATCH:
                    videos = 0
                    yield chunk, _videos_of(view, chunk)
                    chunk = []
            if chunk:
                yield chunk, _videos_of(view, chunk)

    def status(self) -> list[ListStatus]:
        return [
            ListStatus(
                row.list_id, row.size, row.hashes, self.trees.root(row.list_id, row.size),
                LtHash16(row.lthash).digest(), row.cosigned_at,
                tuple(self.store.partners(row.list_id)),
            )
            for row in self.store.lists()
        ]  # fmt: skip


_VIDEOS_PER_BATCH = 64


def _videos_of(view: SnapshotView, chunk: list[tuple[str, int]]) -> list[bytes]:
    """The frame sets of the videos in ``chunk``, in its order."""
    frames = view.videos([s for s, _ in chunk if s.startswith("vpdq:")])
    missing = [s for s, _ in chunk if s.startswith("vpdq:") and s not in frames]
    if missing:
        raise StorageError(f"the frames of listed video {missing[0]} are missing")
    return [frames[s] for s, _ in chunk if s.startswith("vpdq:")]
