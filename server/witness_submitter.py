"""Submitting every new checkpoint to the configured witnesses.

One thread per witness. Publishing only wakes them (``notify`` is a
publisher listener): a slow or absent witness never delays a publication, it
only delays that witness's cosignature, and a node whose trust root needs it
waits (``QuorumError``) rather than applying an unwitnessed checkpoint.

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

from hashlist.errors import HashlistError, UnavailableError, WitnessConflictError
from hashlist.witness_client import WitnessClient
from hashlist.witness_protocol import AddCheckpoint
from server.hub import Hub

log = logging.getLogger(__name__)
_CONFLICT_RETRIES = 3


class WitnessSubmitter:
    def __init__(self, hub: Hub, clients: Sequence[WitnessClient], retry_seconds: float) -> None:
        self.hub = hub
        self.retry_seconds = retry_seconds
        self._stop = threading.Event()
        self._workers = [_Worker(hub, c, self._stop) for c in clients]
        hub.publisher.listeners.append(self.notify)
        self._threads = [
            threading.Thread(target=self._run, args=(w,), name=f"witness-{i}", daemon=True)
            for i, w in enumerate(self._workers)
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

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


class _Worker:
    def __init__(self, hub: Hub, client: WitnessClient, stop: threading.Event) -> None:
        self.hub = hub
        self.client = client
        self.stop = stop
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
                self._submit(row.list_id, row.size, row.latest_note)
            except UnavailableError as e:
                log.warning("%s; will retry", e)
                return  # the witness is down: the next round tries every list again

    def _submit(self, list_id: str, size: int, note: bytes) -> None:
        for _ in range(_CONFLICT_RETRIES):
            old = self.known.get(list_id, 0)
            if old > size:
                url = self.client.url
                log.error("witness %s cosigned %s up to %d, beyond this hub's %d: "
                          "the hub's history went back", url, list_id, old, size)  # fmt: skip
                self.done[list_id] = size
                return
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
                return
            self.known[list_id] = self.done[list_id] = size
            if self.hub.cosigner.add_witness_cosignature(list_id, size, line):
                log.info("witness %s cosigned %s version %d", self.client.url, list_id, size)
            return
        log.error("witness %s kept answering 409 for %s", self.client.url, list_id)
