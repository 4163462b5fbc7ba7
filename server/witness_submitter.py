"""Submitting every new checkpoint to the configured witnesses.

One thread per witness. Publishing only wakes them: a slow or absent
witness never delays a publication, it only delays that witness's
cosignature, and a node whose trust root needs it waits (``QuorumError``,
pending) rather than applying an unwitnessed checkpoint.

Each new checkpoint is announced to subscribers once (``_Announcements``):
when every witness has answered for it (cosigned, refused or unreachable), or
``announce_seconds`` after it was signed, whichever comes first. A witness
line that arrives after that is news to quorum nodes and is announced too.

Every reply is checked before it is used (``check_cosignature``: one line by
exactly that witness's configured key, valid for the checkpoint sent, dated
within the hub's skew); a bad one is logged, counted and never stored.

For each list a thread remembers the size the witness last cosigned (it
starts from 0 and learns the truth from the witness's first 409), proves
consistency from there with the hub's own tree, and hands the returned
cosignature line to ``Cosigner.add_witness_cosignature``, which serves it with
the checkpoint. Unreachable witnesses are retried every ``retry_seconds``; a
refusal (a witness saying the hub's history is inconsistent) is logged as an
error and not retried for that size.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from hashlist.errors import (
    BadWitnessError,
    HashlistError,
    UnavailableError,
    WitnessConflictError,
)
from hashlist.note import Verifier
from hashlist.witness_client import WitnessClient
from hashlist.witness_protocol import AddCheckpoint, check_cosignature
from server.hub import Hub

log = logging.getLogger(__name__)
_CONFLICT_RETRIES = 3


class WitnessSubmitter:
    def __init__(
        self,
        hub: Hub,
        witnesses: Sequence[tuple[WitnessClient, Verifier]],
        retry_seconds: float,
        announce_seconds: float,
        max_skew_seconds: int = 300,
    ) -> None:
        """``witnesses``: each witness's client and the key its replies must verify under."""
        self.hub = hub
        self.retry_seconds = retry_seconds
        self._stop = threading.Event()
        self._announcements = _Announcements(hub, len(witnesses), announce_seconds)
        self._workers = [
            _Worker(
                hub,
                client,
                key,
                stop=self._stop,
                announcements=self._announcements,
                index=i,
                max_skew_seconds=max_skew_seconds,
            )
            for i, (client, key) in enumerate(witnesses)
        ]
        if witnesses:
            hub.publisher.announce = self._published
        self._threads = [
            threading.Thread(target=self._run, args=(w,), name=f"witness-{i}", daemon=True)
            for i, w in enumerate(self._workers)
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def _published(self, list_id: str, size: int, note: bytes) -> None:
        self._announcements.expect(list_id, size)
        self.notify()

    def notify(self) -> None:
        for w in self._workers:
            w.wake.set()

    def stop(self) -> None:
        self._stop.set()
        self.notify()
        for t in self._threads:
            t.join(timeout=5)

    def _run(self, worker: _Worker) -> None:
        while not self._stop.is_set():
            worker.wake.wait(self.retry_seconds)
            worker.wake.clear()
            try:
                worker.round()
            except Exception:  # one bad round must not end witnessing for good
                log.exception("witness %s: submission round failed", worker.client.url)


class _Announcements:
    """Announces each new checkpoint once its witnesses answered, or at its deadline."""

    def __init__(self, hub: Hub, witnesses: int, deadline: float) -> None:
        self.hub, self.witnesses, self.deadline = hub, witnesses, deadline
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int], set[int]] = {}

    def expect(self, list_id: str, size: int) -> None:
        with self._lock:
            self._pending[(list_id, size)] = set()
        timer = threading.Timer(self.deadline, self._settle, args=(list_id, size, False))
        timer.daemon = True
        timer.start()

    def answered(self, list_id: str, size: int, witness: int, *, cosigned: bool) -> None:
        with self._lock:
            got = self._pending.get((list_id, size))
            if got is not None:
                got.add(witness)
            complete = got is not None and len(got) >= self.witnesses
        if complete or (got is None and cosigned):  # a late cosignature is news too
            self._settle(list_id, size, late=got is None)

    def _settle(self, list_id: str, size: int, late: bool) -> None:
        with self._lock:
            if self._pending.pop((list_id, size), None) is None and not late:
                return  # announced already
        row = self.hub.store.get_list(list_id)
        if row is not None and row.size == size:  # else a newer checkpoint supersedes it
            self.hub.broadcaster.announce(list_id, row.latest_note)


class _Worker:
    def __init__(
        self,
        hub: Hub,
        client: WitnessClient,
        key: Verifier,
        *,
        stop: threading.Event,
        announcements: _Announcements,
        index: int,
        max_skew_seconds: int,
    ) -> None:
        self.hub = hub
        self.client = client
        self.key = key
        self.stop = stop
        self.announcements = announcements
        self.index = index
        self.max_skew_seconds = max_skew_seconds
        self.bad_replies = 0  # replies refused: logged, counted, never stored
        self.wake = threading.Event()
        self.wake.set()  # a first round at start-up
        self.known: dict[str, int] = {}  # list -> size the witness last cosigned
        self.done: dict[str, int] = {}  # list -> size settled (cosigned or refused)

    def round(self) -> None:
        for row in self.hub.store.lists():
            if self.stop.is_set():
                return
            if self.done.get(row.list_id) == row.size:
                continue
            try:
                cosigned = self._submit(row.list_id, row.size, row.latest_note)
            except UnavailableError as e:
                log.warning("%s; will retry", e)
                for later in self.hub.store.lists():  # do not hold announcements back
                    self.announcements.answered(later.list_id, later.size, self.index,
                                                cosigned=False)  # fmt: skip
                return  # the witness is down: the next round tries every list again
            self.announcements.answered(row.list_id, row.size, self.index, cosigned=cosigned)

    def _submit(self, list_id: str, size: int, note: bytes) -> bool:
        """Whether the witness's cosignature is now served with the checkpoint."""
        for _ in range(_CONFLICT_RETRIES):
            old = self.known.get(list_id, 0)
            if old > size:
                url = self.client.url
                log.error("witness %s cosigned %s up to %d, beyond this hub's %d: "
                          "the hub's history went back", url, list_id, old, size)  # fmt: skip
                self.done[list_id] = size
                return False
            proof = self.hub.reader.consistency_proof(list_id, old, size) if 0 < old < size else []
            try:
                line = self.client.add_checkpoint(AddCheckpoint(old, tuple(proof), note))
            except WitnessConflictError as e:
                self.known[list_id] = e.size
                continue
            except UnavailableError:
                raise
            except HashlistError as e:
                log.error("witness refused %s version %d: %s", list_id, size, e)
                self.done[list_id] = size
                return False
            self.known[list_id] = self.done[list_id] = size
            try:
                now = self.hub.cosigner.clock.now()
                line = check_cosignature(line, note, self.key, now=now, skew=self.max_skew_seconds)
            except BadWitnessError as e:
                self.bad_replies += 1
                log.error("witness %s: reply for %s version %d not used: %s", self.client.url,
                          list_id, size, e)  # fmt: skip
                return False
            added = self.hub.cosigner.add_witness_cosignature(list_id, size, line)
            if added:
                log.info("witness %s cosigned %s version %d", self.client.url, list_id, size)
            return added
        log.error("witness %s kept answering 409 for %s", self.client.url, list_id)
        return False
