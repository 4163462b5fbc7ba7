"""Who may do what on the hub: revoked certificates, grants, and the checks every call makes.

Identity comes from the client certificate (``hashlist.identity``); this
module decides, starting with whether that certificate was revoked (every
call, and every batch of a stream, asks ``authenticate``). Partners read the
lists they are granted; auditors and the operator read every list; only the
operator administers; only partners report matches; only the intake opens,
reads and withdraws victims' cases.

Revoked serials and grants are kept in memory (loaded at start, replaced whole
under the lock when the operator changes them; this module is their only
writer), so the checks an open stream repeats before each item never wait on
the database: the subscription streams run on the server's event loop.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

from hashlist.clock import Clock
from hashlist.delta import validate_list_id
from hashlist.errors import (
    InputError,
    NotFoundError,
    PermissionDeniedError,
    StorageError,
    UnauthenticatedError,
)
from hashlist.identity import Identity, Role
from server.store import HubStore, ListRow

log = logging.getLogger(__name__)
_MAX_PARTNER_NAME = 128


_SERIAL = re.compile(r"[0-9a-f]{1,40}")


class Access:
    def __init__(
        self, store: HubStore, clock: Clock, *, on_revoke: Callable[[], None] = lambda: None
    ) -> None:
        self.store, self.clock = store, clock
        # Revoked serials and grants (list id, partner), read at every call: loaded once,
        # replaced whole (under the lock) on a change.
        self._revoked = frozenset(store.revoked())
        self._grants = frozenset(store.grants())
        self._lock = threading.Lock()
        self._on_revoke = on_revoke  # wakes open streams, so they end at once
        # Sightings of certificates, kept here and written by flush_sightings (a
        # chore), so that no call waits for the write lock or fails with the disk.
        self._sightings: dict[str, tuple[Identity, int]] = {}

    def authenticate(self, who: Identity) -> Identity:
        """``who``, unless its certificate was revoked (``UnauthenticatedError``); the
        sighting is kept for the partner registry."""
        if who.serial in self._revoked:
            raise UnauthenticatedError(f"the certificate of {who} (serial {who.serial}) "
                                       "was revoked by the hub's operator")  # fmt: skip
        if who.serial:
            self._sightings[who.serial] = (who, self.clock.now())
        return who

    def flush_sightings(self) -> None:
        """Store the certificates seen since the last flush (for ``hub partners``)."""
        with self._lock:
            pending, self._sightings = self._sightings, {}
        for who, at in pending.values():
            try:
                self.store.saw_certificate(who, at)
            except StorageError as e:  # kept for the next flush; calls are not affected
                log.warning("cannot record a sighting of %s: %s", who, e)
                with self._lock:
                    self._sightings.setdefault(who.serial, (who, at))

    def revoke_certificate(self, serial: str) -> bool:
        """Refuse the certificate ``serial`` (lowercase hex) from now on, for good."""
        serial = serial.strip().lower().removeprefix("0x").lstrip("0") or "0"
        if not _SERIAL.fullmatch(serial):
            raise InputError(f"serial {serial[:50]!r} is not a certificate serial in hex")
        with self._lock:  # two revocations at once both stay in the set
            new = self.store.revoke(serial, self.clock.now())
            self._revoked = self._revoked | {serial}
        self._on_revoke()
        log.warning("certificate serial %s revoked%s", serial, "" if new else " (already)")
        return new

    def list_row(self, list_id: str) -> ListRow:
        row = self.store.get_list(validate_list_id(list_id))
        if row is None:
            raise NotFoundError(f"no list named {list_id!r} on this hub")
        return row

    def set_grant(
        self, list_id: str, partner: str, granted: bool, *, new_partner: bool = False
    ) -> bool:
        """Grant or revoke ``partner``'s reading of ``list_id``. A grant to a name the
        hub has never seen a certificate of, nor granted before, needs ``new_partner``:
        otherwise a misspelled name would be granted silently."""
        self.list_row(list_id)
        if not partner or not partner.isprintable() or len(partner) > _MAX_PARTNER_NAME:
            raise InputError(f"partner name {partner[:_MAX_PARTNER_NAME]!r} is not valid")
        if granted and not new_partner and not self._known(partner):
            raise InputError(
                f"partner {partner!r} is unknown to this hub (no certificate of it seen, no "
                "grant): check the name, or grant with --new-partner for one not yet connected"
            )
        with self._lock:
            changed = self.store.set_grant(list_id, partner, granted)
            grant = {(list_id, partner)}
            self._grants = (self._grants | grant) if granted else (self._grants - grant)
        log.info("%s %s on %s", "granted" if granted else "revoked", partner, list_id)
        return changed

    def _known(self, partner: str) -> bool:
        self.flush_sightings()
        seen = {name for _, role, name, _, _ in self.store.certificates() if role == "partner"}
        return partner in seen or any(p == partner for _, p in self.store.grants())

    def authorize_read(self, who: Identity, list_id: str) -> None:
        """Partners read the lists they are granted; auditors and the operator, all."""
        validate_list_id(list_id)
        if who.role in (Role.AUDITOR, Role.OPERATOR):
            self.list_row(list_id)
            return
        self._check_grant(who, list_id)

    def still_reads(self, who: Identity, list_id: str) -> None:
        """What an open stream asks again before each item of a list ``authorize_read``
        admitted: the certificate not revoked since, the grant not withdrawn. From
        memory: an event loop may ask."""
        self.authenticate(who)
        if who.role not in (Role.AUDITOR, Role.OPERATOR):
            self._check_grant(who, list_id)

    def _check_grant(self, who: Identity, list_id: str) -> None:
        if who.role is not Role.PARTNER or (list_id, who.name) not in self._grants:
            raise PermissionDeniedError(f"{who} may not read list {list_id!r}")

    @staticmethod
    def authorize_admin(who: Identity) -> None:
        if who.role is not Role.OPERATOR:
            raise PermissionDeniedError(f"{who} is not the operator: only the operator administers")

    @staticmethod
    def authorize_intake(who: Identity) -> None:
        if who.role is not Role.INTAKE:
            raise PermissionDeniedError(f"{who} is not the intake: only it opens and reads cases")

    @staticmethod
    def authorize_report(who: Identity) -> None:
        if who.role is not Role.PARTNER:
            raise PermissionDeniedError(f"{who} is not a partner: only partners report matches")
