"""Keeping each list's served note fresh and complete: re-cosigning, witness lines, key rollover.

The note a list serves is its newest checkpoint signed by the log keys, plus
cosignatures: the hub's own timestamp (renewed every interval, so nodes can
tell a quiet list from a frozen hub) and the witnesses' lines as they arrive.
Each change is stored only while the list is still at the size it was made
for (``HubStore.update_cosigned``), under the publisher's lock, so a new
publication is never overwritten by an older note.
"""

from __future__ import annotations

import logging
import threading

from hashlist.clock import Clock
from hashlist.errors import MalformedNoteError
from hashlist.note import Note, parse_note, sign_note
from hashlist.witness_protocol import cosigned_note
from server.broadcast import Broadcaster
from server.signing import HubSigning
from server.store import HubStore, ListRow

log = logging.getLogger(__name__)
_LOG_SIGNATURE_BYTES = 64  # Ed25519
_COSIGNATURE_BYTES = 8 + 64  # cosignature/v1: timestamp, then Ed25519


class Cosigner:
    def __init__(
        self,
        *,
        store: HubStore,
        signing: HubSigning,
        clock: Clock,
        broadcaster: Broadcaster,
        lock: threading.Lock,
    ) -> None:
        self.store, self.signing, self.clock = store, signing, clock
        self.broadcaster = broadcaster
        self.lock = lock

    def start(self) -> None:
        """At start-up: re-sign with the configured log keys where they changed, and
        make every list's note the current one for subscribers."""
        with self.lock:
            for row in self.store.lists():
                try:
                    note = self._resign(row)
                except MalformedNoteError as e:
                    note = self._rebuild(row, e)
                self.broadcaster.announce(row.list_id, note)

    def _rebuild(self, row: ListRow, why: MalformedNoteError) -> bytes:
        """A stored note the hub's own limits refuse: serve its log-signed checkpoint again,
        freshly cosigned (witness lines are submitted again)."""
        now = self.clock.now()
        note = self.signing.cosign(self.store.log_note(row.list_id, row.size), now)
        self.store.update_cosigned(row.list_id, row.size, note, now)
        log.error("list %s: the stored note of version %d was unusable (%s); serving its "
                  "log-signed checkpoint again", row.list_id, row.size, why)  # fmt: skip
        return note

    def recosign(self) -> int:
        """Re-cosign every list's current checkpoint now; returns how many."""
        done = 0
        for list_id in [row.list_id for row in self.store.lists()]:
            with self.lock:
                row = self.store.get_list(list_id)
                if row is None:
                    continue
                now = self.clock.now()
                note = self.signing.cosign(row.latest_note, now)
                if self.store.update_cosigned(list_id, row.size, note, now):
                    self.broadcaster.announce(list_id, note)
                    done += 1
        return done

    def add_witness_cosignature(self, list_id: str, size: int, line: bytes) -> bool:
        """Serve a witness's cosignature line with the checkpoint, if still at ``size``.

        Not announced here: the witness submitter announces each checkpoint once
        its witnesses have answered (``server.witness_submitter``)."""
        with self.lock:
            row = self.store.get_list(list_id)
            if row is None or row.size != size:
                return False
            note = cosigned_note(row.latest_note, [line])
            try:
                parse_note(note)  # within the limits every verifier applies
            except MalformedNoteError as e:
                log.error("list %s: not serving a witness line: the note would be refused: %s",
                          list_id, e)  # fmt: skip
                return False
            return self.store.update_cosigned(list_id, size, note, row.cosigned_at)

    def _resign(self, row: ListRow) -> bytes:
        """``row``'s note signed by exactly the current log keys (after a key rollover).

        Cosignatures (timestamp, witnesses) sign the checkpoint body, not the
        log signature, so they stay valid and are kept; log signatures by keys
        no longer configured are dropped.
        """
        parsed = parse_note(row.latest_note)
        current = {(s.name, s.verifier().key_id) for s in self.signing.log_signers}
        logged = {(s.name, s.key_id) for s in parsed.signatures
                  if len(s.signature) == _LOG_SIGNATURE_BYTES}  # fmt: skip
        if logged == current:
            return row.latest_note
        cosignatures = [s for s in parsed.signatures if len(s.signature) == _COSIGNATURE_BYTES]
        fresh = parse_note(sign_note(parsed.text, list(self.signing.log_signers))).signatures
        note = Note(parsed.text, (*fresh, *cosignatures)).encode()
        self.store.update_cosigned(row.list_id, row.size, note, row.cosigned_at)
        log.info("list %s: re-signed version %d with log key(s) %s", row.list_id, row.size,
                 ", ".join(s.name for s in self.signing.log_signers))  # fmt: skip
        return note
