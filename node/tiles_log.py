"""The node's ``HubLog`` with ``tiles_url`` set: checkpoints and leaves from the tiles.

``TilesLog`` reads a list's checkpoint and the leaves the node lacks from the
static tiles (any mirror or CDN, ``hashlist.tiles_client``), and everything
else from the hub: the push (``subscribe``), snapshots, trust roots and
progress reports. What it returns is verified by the ``Syncer`` exactly as
what the hub sends: a leaf is an entry of a bundle, hashed as received, and
the root is checked against the signed checkpoint (the hash tiles are not
needed for that).

Invariants:

* ``leaves(list, start, end)`` is asked for up to the size of the verified
  checkpoint being caught up to (``StepVerifier.target_size``), so ``end``
  names the bundles (``bundles_for(start, end, end)``): full ones, and the
  checkpoint's own partial one;
* a partial bundle the server no longer has (the hub deletes superseded
  partials) is read from the wider bundle of the checkpoint now served: its
  first entries are the same, and they are verified all the same;
* ``checkpoint_with_source`` says whether the note came from the tiles;
* when the tiles do not answer (out of reach, refusing, missing) the hub is
  asked instead, and the failure is logged and counted; when the hub fails
  too, its error is raised (its type is what the sync loop acts on) naming
  both. A malformed tile (``TileError``) is never papered over: it is a
  verification failure of the step;
* after the tiles fail out of reach (``UnavailableError``: a timeout, a
  connection, a 5xx, already retried) they are skipped, the hub asked
  straight away, for ``SKIP_FIRST_SECONDS`` doubling up to
  ``SKIP_CAP_SECONDS`` while they keep failing, and read again after one
  success: a blackholed tiles host costs every read four timeouts, which
  must not slow a node whose hub answers. Refusals and missing files answer
  fast and are not skipped (a missing partial bundle is routine).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Protocol, TypeVar

from hashlist.checkpoint import Checkpoint
from hashlist.errors import MalformedNoteError, NotFoundError, ServiceError, UnavailableError
from hashlist.note import parse_note
from hashlist.snapshot import SnapshotHeader
from hashlist.tiles import ENTRIES, TILE_WIDTH, Tile, bundles_for
from node.metrics import NodeMetrics
from node.sync import HubLog, Subscription

log = logging.getLogger(__name__)
R = TypeVar("R")
SKIP_FIRST_SECONDS = 30.0
SKIP_CAP_SECONDS = 600.0


class TilesSkippedError(UnavailableError):
    """The tiles were not asked: they failed out of reach a short while ago."""


class TilesSource(Protocol):
    """What ``TilesLog`` reads (``hashlist.tiles_client.TilesClient`` provides it)."""

    def checkpoint(self, list_id: str) -> bytes: ...

    def entries(self, list_id: str, tile: Tile) -> list[bytes]: ...


class _Breaker:
    """When to ask the tiles again after they failed out of reach (used by the sync
    thread only): not before ``until``; each failure in a row doubles the wait."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self._monotonic, self.until, self.skip, self._why = monotonic, 0.0, 0.0, ""

    def skipping(self) -> TilesSkippedError | None:
        left = self.until - self._monotonic()
        if left <= 0:
            return None
        return TilesSkippedError(f"not asked for {left:.0f} s more, after: {self._why}")

    def failed(self, why: UnavailableError) -> None:
        self.skip = min(SKIP_CAP_SECONDS, self.skip * 2 or SKIP_FIRST_SECONDS)
        self.until, self._why = self._monotonic() + self.skip, str(why)[:300]

    def answered(self) -> None:
        self.until, self.skip = 0.0, 0.0


class TilesLog:
    def __init__(
        self,
        hub: HubLog,
        tiles: TilesSource,
        metrics: NodeMetrics,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hub, self.tiles, self.metrics = hub, tiles, metrics
        self._breaker = _Breaker(monotonic)

    def _read(self, read: Callable[[], R]) -> R:
        """``read`` from the tiles, unless they are being skipped; a failure out of reach
        starts (or doubles) the skip, an answer ends it."""
        if (skipped := self._breaker.skipping()) is not None:
            raise skipped
        try:
            result = read()
        except UnavailableError as e:
            self._breaker.failed(e)
            self.metrics.tiles_skip_seconds.set(self._breaker.skip)
            log.warning("the tiles are out of reach (%s); asking the hub alone for %.0f s",
                        e, self._breaker.skip)  # fmt: skip
            raise
        if self._breaker.skip:
            log.info("the tiles answer again")
            self._breaker.answered()
            self.metrics.tiles_skip_seconds.set(0)
        return result

    # --- from the tiles ---

    def checkpoint(self, list_id: str) -> bytes:
        return self.checkpoint_with_source(list_id)[0]

    def checkpoint_with_source(self, list_id: str) -> tuple[bytes, ServiceError | None]:
        """The note, and ``None`` if the tiles served it; else why they did not, the hub
        having served it instead. The ``Syncer`` excuses an older checkpoint only when
        the tiles served it: the hub standing in for them is the hub, rollbacks and all.
        """
        try:
            return self._read(lambda: self.tiles.checkpoint(list_id)), None
        except ServiceError as e:
            note = self._from_hub(list_id, "the checkpoint", e,
                                  lambda: self.hub.checkpoint(list_id))  # fmt: skip
            return note, e

    def leaves(self, list_id: str, start: int, end: int) -> Iterator[tuple[int, Sequence[bytes]]]:
        for tile in bundles_for(start, end, end):
            first = tile.first_leaf()
            try:
                entries = self._read(partial(self._bundle, list_id, tile))
            except ServiceError as e:
                yield from self._leaves_from_hub(list_id, max(start, first), end, e)
                return
            lo, hi = max(start, first), min(end, first + tile.width)
            self.metrics.leaves_read.labels(list_id, "tiles").inc(hi - lo)
            log.debug("list %s: leaves %d..%d from the tiles (%s)", list_id, lo, hi, tile.path)
            yield lo, entries[lo - first : hi - first]

    def _bundle(self, list_id: str, tile: Tile) -> list[bytes]:
        try:
            return self.tiles.entries(list_id, tile)
        except NotFoundError:
            if not tile.partial:
                raise
            wider = self._wider(list_id, tile)
            if wider is None:
                raise
            log.info("list %s: %s is gone; reading its entries from %s", list_id, tile.path,
                     wider.path)  # fmt: skip
            return self.tiles.entries(list_id, wider)[: tile.width]

    def _wider(self, list_id: str, tile: Tile) -> Tile | None:
        """The bundle at ``tile``'s index in the log the tiles serve now, if it is wider.
        The size is read from the served checkpoint without verifying it: it only names
        a path, and whatever comes from there is verified like any leaf."""
        try:
            size = Checkpoint.parse(parse_note(self.tiles.checkpoint(list_id)).text).size
        except MalformedNoteError:
            return None
        width = min(TILE_WIDTH, size - tile.index * TILE_WIDTH)
        return Tile(ENTRIES, tile.index, width) if width > tile.width else None

    def _leaves_from_hub(
        self, list_id: str, start: int, end: int, why: ServiceError
    ) -> Iterator[tuple[int, Sequence[bytes]]]:
        self._tiles_failed(list_id, f"leaves {start}..{end}", why)
        try:
            for at, batch in self.hub.leaves(list_id, start, end):
                self.metrics.leaves_read.labels(list_id, "hub").inc(len(batch))
                yield at, batch
        except ServiceError as e:
            raise _both(e, why) from why

    def _from_hub(self, list_id: str, what: str, why: ServiceError, read: Callable[[], R]) -> R:
        self._tiles_failed(list_id, what, why)
        try:
            return read()
        except ServiceError as e:
            raise _both(e, why) from why

    def _tiles_failed(self, list_id: str, what: str, why: ServiceError) -> None:
        if isinstance(why, TilesSkippedError):
            log.debug("list %s: %s from the hub: the tiles %s", list_id, what, why)
            return  # not a failure of the tiles: they were not asked
        self.metrics.tiles_errors.labels(list_id, type(why).__name__).inc()
        log.warning("list %s: the tiles did not serve %s (%s: %s); asking the hub", list_id,
                    what, type(why).__name__, why)  # fmt: skip

    # --- from the hub ---

    def snapshot(
        self, list_id: str, from_size: int
    ) -> Iterator[SnapshotHeader | tuple[Sequence[str], Sequence[int], Sequence[bytes]]]:
        return self.hub.snapshot(list_id, from_size)

    def subscribe(self, list_ids: Sequence[str]) -> Subscription:
        return self.hub.subscribe(list_ids)

    def trust_root(self, version: int) -> bytes | None:
        return self.hub.trust_root(version)

    def report_progress(self, list_id: str, version: int) -> None:
        self.hub.report_progress(list_id, version)


def _both(hub: ServiceError, tiles: ServiceError) -> ServiceError:
    """The hub's error (its type decides what the sync loop does), naming both."""
    return type(hub)(f"{hub}; and the tiles: {type(tiles).__name__}: {tiles}")


__all__ = ["SKIP_CAP_SECONDS", "SKIP_FIRST_SECONDS", "TilesLog", "TilesSkippedError", "TilesSource"]
