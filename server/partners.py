"""The operator's view of partners: who the hub knows, with what certificates, and
how far each partner's node has verified each list it is granted.

A partner is known by the certificates it has called with (``Access`` records
each sighting) or by its grants. Nodes report the version they verified
(``report_progress``, only for lists they are granted, never beyond the list's
version); lag is the list's version minus that.
"""

from __future__ import annotations

from hashlist.clock import Clock
from hashlist.errors import InputError, ResourceExhaustedError
from hashlist.identity import Identity, Role
from hashlist.model import CertificateSeen, Partner, PartnerList
from server.access import Access
from server.ratelimit import TokenBuckets
from server.store import HubStore

PROGRESS_PER_SECOND = 5.0
PROGRESS_BURST = 50


class PartnerRegistry:
    def __init__(self, *, store: HubStore, access: Access, clock: Clock) -> None:
        self.store, self.access, self.clock = store, access, clock
        # A node reports when it advances; more than this is not a node following.
        self.limit = TokenBuckets(rate=PROGRESS_PER_SECOND, burst=PROGRESS_BURST)

    def report_progress(self, who: Identity, list_id: str, version: int) -> None:
        self.access.authorize_report(who)  # partners only
        self.access.authorize_read(who, list_id)
        if not self.limit.take(who.name, 1):
            raise ResourceExhaustedError(f"{who} reports progress faster than "
                                         f"{PROGRESS_PER_SECOND:g}/s")  # fmt: skip
        size = self.access.list_row(list_id).size
        if not 0 <= version <= size:
            raise InputError(f"version {version} is beyond {list_id}'s {size}")
        self.store.set_progress(who.name, list_id, version, self.clock.now())

    def partners(self) -> list[Partner]:
        self.access.flush_sightings()  # the operator sees every call so far
        revoked = self.store.revoked()
        sizes = {row.list_id: row.size for row in self.store.lists()}
        certificates: dict[str, list[CertificateSeen]] = {}
        for serial, role, name, not_after, last_seen in self.store.certificates():
            if role == Role.PARTNER.value:
                certificates.setdefault(name, []).append(
                    CertificateSeen(serial, not_after, serial in revoked, last_seen)
                )
        progress = {(p, lst): (v, at) for p, lst, v, at in self.store.progress()}
        grants: dict[str, list[str]] = {}
        for list_id, partner in self.store.grants():
            grants.setdefault(partner, []).append(list_id)
        out = []
        for name in sorted(set(certificates) | set(grants)):
            lists = []
            for list_id in grants.get(name, []):
                version, at = progress.get((name, list_id), (0, 0))
                lists.append(PartnerList(list_id, version, max(0, sizes[list_id] - version), at))
            seen = certificates.get(name, [])
            out.append(Partner(name, tuple(seen), tuple(lists),
                               max((c.last_seen for c in seen), default=0)))  # fmt: skip
        return out
