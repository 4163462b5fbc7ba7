"""The node's long-running sync loop: follow every list until stopped, never end on its own.

Each round syncs every list once (``Syncer.sync``), then follows the hub's
pushed checkpoints until the stream ends. Along the way it

* reconnects with exponential backoff and full jitter when the hub goes away;
* keeps asking, every ``refused_retry_seconds``, for lists the hub refuses,
  while following the others;
* records per list how the last contact went (``node status`` reads it);
* repairs a list whose rows failed the digest check (``request_repair``,
  from ``node.replica_check``), in this thread, the replica's only writer;
* with ``tiles_url``, while the hub is out of reach (between reconnection
  attempts), polls the tiles' checkpoint every ``tiles_poll_seconds`` and
  applies what verifies: the contact still says the hub is unreachable, and
  adds how the tiles answer, so the status stays truthful: "the tiles
  answer" only for a checkpoint the tiles served and that verified, not for
  one the hub stood in for, one refused, or a copy behind the verified state.

Whatever fails (the disk is full, an unexpected error), the loop records an
alarm, keeps the last verified state being served, backs off and tries
again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from hashlist.errors import (
    CorruptReplicaError,
    HashlistError,
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
    UnauthenticatedError,
    UnavailableError,
)
from hashlist.retry import Backoff
from node.sync import BEHIND, PENDING, CheckpointRead, Subscription, Syncer

log = logging.getLogger(__name__)
_REFUSALS = (PermissionDeniedError, UnauthenticatedError, NotFoundError)


class Follower:
    def __init__(self, syncer: Syncer) -> None:
        self.syncer = syncer
        self.config = syncer.config
        self.stop = threading.Event()
        self._backoff = Backoff(self.config.reconnect_base_seconds,
                                self.config.reconnect_cap_seconds)  # fmt: skip
        self._subscription: Subscription | None = None
        self._lock = threading.Lock()
        self._contact: dict[str, str] = {}  # what was last recorded, to write only changes
        self._repairs: set[str] = set()  # lists whose rows failed the digest check
        self._reported: dict[str, int] = {}  # the version last told to the hub, per list
        self._away = ""  # why the hub is out of reach, while it is
        self._tiles: dict[str, str] = {}  # how the last poll of the tiles went, per list
        self._next_poll = 0.0  # monotonic time of the next poll of the tiles

    def request_repair(self, list_id: str) -> None:
        """The rows of ``list_id`` fail the digest check: re-bootstrap it at the next wake."""
        with self._lock:
            self._repairs.add(list_id)
            if self._subscription is not None:
                self._subscription.cancel()

    def _repair(self) -> None:
        """Repair every list asked for; a list stays asked for until its repair succeeded."""
        with self._lock:
            pending = sorted(self._repairs)
        for list_id in pending:
            alarm = (f"{CorruptReplicaError.__name__}: the rows do not match the verified state; "
                     "repairing from the hub")  # fmt: skip
            log.critical("list %s: %s", list_id, alarm)
            self._best_effort(self.syncer.store.set_alarm, list_id, alarm)
            self.syncer.repair(list_id)  # raises (the hub away, say): tried again next round
            with self._lock:
                self._repairs.discard(list_id)

    def _sync_all(self, lists: Sequence[str]) -> tuple[list[str], list[str]]:
        """Sync every list once: (the lists that synced, what went wrong with the others).

        A refusal or a failure is recorded on its own list; the hub going away is
        raised, since it concerns them all.
        """
        followed, problems = [], []
        for list_id in lists:
            try:
                self.syncer.sync(list_id)
            except _REFUSALS as e:
                self._set_contact(list_id, f"refused: {type(e).__name__}: {e}")
                log.error("list %s: the hub refuses it: %s", list_id, e)
                problems.append(f"{list_id}: refused")
                continue
            except UnavailableError:
                raise
            except Exception as e:  # this list's failure: recorded on it, the others go on
                problems.append(f"{list_id}: {self._failed(list_id, e)}")
                continue
            self._set_contact(list_id, "")
            self._report_progress(list_id)
            followed.append(list_id)
        return followed, problems

    def _report_progress(self, list_id: str) -> None:
        """Tell the hub the version verified, when it changed; for the operator's view
        only, so a failure is logged and tried again at the next change."""
        version = self.syncer.store.state(list_id).size
        if self._reported.get(list_id) == version:
            return
        try:
            self.syncer.hub.report_progress(list_id, version)
        except HashlistError as e:
            log.info("list %s: could not report version %d to the hub: %s", list_id, version, e)
            return
        self._reported[list_id] = version

    def _failed(self, list_id: str, e: Exception) -> str:
        """Record a failure of one list's sync (an alarm, a repair for corrupt rows)."""
        problem = f"{type(e).__name__}: {e}"
        if isinstance(e, HashlistError):
            log.error("list %s: sync failed, keeping the last verified state: %s", list_id,
                      problem)  # fmt: skip
        else:  # a bug must not end the loop behind a live Matcher
            log.exception("list %s: sync failed unexpectedly", list_id)
        self._best_effort(self.syncer.store.set_alarm, list_id, problem)
        if isinstance(e, CorruptReplicaError):
            with self._lock:
                self._repairs.add(list_id)
        return problem

    def _set_contact(self, list_id: str, contact: str) -> None:
        if self._contact.get(list_id) != contact:
            self.syncer.store.set_contact(list_id, contact, self.syncer.clock.now())
            self._contact[list_id] = contact

    def run(self) -> None:
        """Follow every list until ``stop`` is set; never returns on its own."""
        lists = list(self.config.lists)
        attempt = 0
        while not self.stop.is_set():
            try:
                problem = self._round(lists)
            except Exception as e:  # even a failing handler must not end the loop
                problem = f"InternalError: {type(e).__name__}: {e}"
                log.exception("sync failed unexpectedly")
            if problem is None:
                attempt = 0
                continue
            if self.stop.is_set():
                break
            delay = self._backoff.delay(attempt)
            attempt += 1
            log.warning("hub %s: %s; trying again in %.1f s", self.config.hub, problem, delay)
            self._wait(lists, delay)

    def _wait(self, lists: Sequence[str], delay: float) -> None:
        """Wait ``delay`` before trying the hub again; with tiles, poll them meanwhile,
        every ``tiles_poll_seconds`` (at once when the hub has just gone)."""
        end = time.monotonic() + delay
        while not self.stop.is_set():
            if self.config.tiles_url and time.monotonic() >= self._next_poll:
                self._poll(lists)
                self._next_poll = time.monotonic() + self.config.tiles_poll_seconds
            now = time.monotonic()
            if now >= end:
                return
            wake = min(end, self._next_poll) if self.config.tiles_url else end
            self.stop.wait(wake - now)

    def _poll(self, lists: Sequence[str]) -> None:
        """Sync every list from the tiles' checkpoint (the hub being away, nothing is
        reported to it); a failure is recorded on its list and the others go on."""
        for list_id in lists:
            if self.stop.is_set():
                return
            try:
                self.syncer.sync(list_id)
                self._tiles[list_id] = _tiles_said(self.syncer.last_read.get(list_id))
            except ServiceError as e:  # the tiles, and then the hub, did not answer
                log.warning("list %s: nothing from the tiles either: %s", list_id, e)
                self._tiles[list_id] = f"the tiles: {type(e).__name__}: {e}"
            except Exception as e:
                self._tiles[list_id] = f"the tiles: {self._failed(list_id, e)}"
            if self._away and self._contact.get(list_id, "").startswith("unreachable:"):
                self._best_effort(self._set_contact, list_id, self._unreachable(list_id))

    def _unreachable(self, list_id: str) -> str:
        """The contact of a list while the hub is away: why, and how the tiles answer."""
        tiles = self._tiles.get(list_id)  # "" for a list not asked (halted)
        return f"unreachable: {self._away}" + (f" ({tiles})" if tiles else "")

    def _round(self, lists: Sequence[str]) -> str | None:
        """Sync every list and follow the hub's pushes; returns what went wrong, if anything."""
        try:
            self._repair()
            self.syncer.refresh_trust_safely()
            followed, problems = self._sync_all(lists)
            if followed:
                # The hub answered (the trust root, above): the next outage starts afresh.
                self._away, self._next_poll = "", 0.0
                self._tiles.clear()
                self._follow(followed, refused=len(followed) < len(lists))
                return None
            return "; ".join(problems)
        except UnavailableError as e:
            self._away = str(e)
            for list_id in lists:
                self._best_effort(self._set_contact, list_id, self._unreachable(list_id))
            return str(e)
        except UnauthenticatedError as e:  # this node's certificate (revoked): every list
            refusal = f"refused: {type(e).__name__}: {e}"
            for list_id in lists:
                self._best_effort(self._set_contact, list_id, refusal)
            log.error("the hub refuses this node: %s", e)
            return f"{type(e).__name__}: {e}"
        except _REFUSALS as e:  # a grant revoked mid-stream: the next round records it
            return f"{type(e).__name__}: {e}"
        except HashlistError as e:  # e.g. StorageError: the disk is full
            problem = f"{type(e).__name__}: {e}"
        except Exception as e:  # a bug must not end the loop behind a live Matcher
            problem = f"InternalError: {type(e).__name__}: {e}"
            log.exception("sync failed unexpectedly")
        log.error("sync failed, keeping the last verified state: %s", problem)
        for list_id in lists:
            self._best_effort(self.syncer.store.set_alarm, list_id, problem)
        return problem

    def _follow(self, followed: list[str], *, refused: bool) -> None:
        """Apply every pushed checkpoint until the stream ends (or a refused list is due)."""
        with self._lock:
            if self.stop.is_set() or self._repairs:
                return
            self._subscription = stream = self.syncer.hub.subscribe(followed)
        retry_at = time.monotonic() + self.config.refused_retry_seconds
        try:
            for list_id, note in stream:
                if self.stop.is_set():
                    return
                if list_id in followed:
                    self._sync_pushed(list_id, note)
                if refused and time.monotonic() > retry_at:
                    return  # ask for the refused lists again
        except UnavailableError:
            if self.stop.is_set() or self._repairs:
                return  # cancelled on purpose
            raise
        finally:
            with self._lock:
                self._subscription = None
        if not self.stop.is_set() and not self._repairs:
            raise UnavailableError("subscription ended")

    def _sync_pushed(self, list_id: str, note: bytes) -> None:
        try:
            self.syncer.sync(list_id, note)
            self._report_progress(list_id)
        except (UnavailableError, *_REFUSALS):
            raise
        except Exception as e:
            self._failed(list_id, e)
            if self._repairs:
                raise UnavailableError("a repair is due") from e

    @staticmethod
    def _best_effort(write: Callable[[str, str], None], *args: str) -> None:
        """A write that may fail for the very reason being recorded (a full disk)."""
        try:
            write(*args)
        except Exception as e:  # recording is best effort: the loop goes on
            log.error("could not record it in the replica: %s: %s", type(e).__name__, e)

    def shutdown(self) -> None:
        """Ask ``run`` to return soon (from a signal handler or another thread)."""
        with self._lock:
            self.stop.set()
            if self._subscription is not None:
                self._subscription.cancel()


def _tiles_said(read: CheckpointRead | None) -> str:
    """What a poll's checkpoint says of the tiles, for the contact."""
    if read is None or (read.source != "tiles" and not read.tiles_problem):
        return ""  # a halted list, or the tiles not asked: nothing to say of them
    if read.tiles_problem:
        return f"the tiles: {read.tiles_problem} (the hub answered)"
    if read.tiles_verified:
        return "the tiles answer"
    if read.outcome == BEHIND:
        return "the tiles lag behind the verified version"
    if read.outcome == PENDING:
        return "the tiles: a version pending its witnesses' cosignatures"
    return f"the tiles: not verified: {read.outcome}"
