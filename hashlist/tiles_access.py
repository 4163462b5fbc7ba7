"""Who may read a list's entry bundles from a web server: an nginx access map from the hub.

The entry bundles (``<list>/tile/entries/...``) carry a list's hashes, so the
web server serving the tiles gives them only to a client whose certificate,
verified against the hub's CA by the server itself, names a partner the hub
grants that list and is not revoked. ``nginx_access_map`` writes that as two
nginx ``map`` blocks, which ``deploy/nginx/hashlist-tiles.conf`` includes and
combines with ``$ssl_client_verify``:

* ``$hashlist_granted`` is 1 when ``"$ssl_client_s_dn/$hashlist_list"`` is
  ``CN=<partner>,OU=partner,O=hashlist/<list>`` for a grant of the hub;
* ``$hashlist_revoked`` is 1 when ``$ssl_client_serial`` is a serial the hub
  revoked: the revoked certificates ``hub partners`` shows, and every
  revocation in the audit trail (a certificate may be revoked before the hub
  ever saw it).

Invariants: it fails closed. Every map defaults to "no"; a partner name
that nginx's RFC 2253 rendering of a subject would escape or that a regular
expression would read differently (anything outside ``[A-Za-z0-9._@ -]``, a
leading or trailing space) gets no line and is reported, never approximated;
subjects are matched by case-sensitive regular expressions, as nginx
compares plain map keys without regard to case and ``Facebook`` is not
``facebook``; serials are written as nginx prints them (upper-case hex, an
even number of digits), where case does not matter. Pure: the caller fetches
the partners and the trail, and writes the text (the same for the same input).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from hashlist.identity import ORGANIZATION, Role
from hashlist.model import Partner
from hashlist.oversight import ActionRecord

_SAFE_NAME = re.compile(r"[A-Za-z0-9._@-](?:[A-Za-z0-9._@ -]{0,126}[A-Za-z0-9._@-])?")
_SERIAL = re.compile(r"[0-9a-f]{1,40}")
REVOKE_ACTION = "revoke certificate"  # as the hub's audit trail names it


@dataclass(frozen=True)
class AccessMap:
    text: str  # the nginx include
    grants: int  # (partner, list) lines written
    revoked: int  # serials written
    skipped: tuple[str, ...]  # partner names left out, and why


def normalized_serial(serial: str) -> str | None:
    """A serial as the hub keeps it (lower-case hex, no leading zeros), or None if it is
    not one (what ``server.access.Access.revoke_certificate`` accepts)."""
    s = serial.strip().lower().removeprefix("0x").lstrip("0") or "0"
    return s if _SERIAL.fullmatch(s) else None


def nginx_serial(serial: str) -> str:
    """``$ssl_client_serial`` of a certificate with this (normalized) serial."""
    return serial.upper().zfill(len(serial) + len(serial) % 2)


def revoked_serials(partners: Iterable[Partner], trail: Iterable[ActionRecord]) -> set[str]:
    """Every serial the hub revoked, from its partners' certificates and its audit trail
    (a revocation that may have gone through counts: only a failed one does not)."""
    found = {c.serial for p in partners for c in p.certificates if c.revoked}
    found |= {a.target for a in trail
              if a.action == REVOKE_ACTION and not a.outcome.startswith("failed")}  # fmt: skip
    return {s for s in map(normalized_serial, found) if s is not None}


def nginx_access_map(partners: Iterable[Partner], revoked: Iterable[str]) -> AccessMap:
    """The nginx include for these grants and revoked serials: the same text for the same
    grants and revocations, so that an unchanged map need not be written nor reloaded."""
    grants, skipped = [], []
    for partner in sorted(partners, key=lambda p: p.name):
        if not partner.lists:
            continue
        if not _SAFE_NAME.fullmatch(partner.name):
            skipped.append(f"{partner.name!r}: a name nginx would escape in a subject; "
                           "its nodes read entries from the hub only")  # fmt: skip
            continue
        subject = f"CN={partner.name},OU={Role.PARTNER.value},O={ORGANIZATION}"
        for granted in sorted(partner.lists, key=lambda x: x.list_id):
            pattern = f"^{subject}/{granted.list_id}$".replace(".", "[.]")
            grants.append(f'    "~{pattern}" 1;  # {partner.name} reads {granted.list_id}')
    serials = sorted({nginx_serial(s) for s in revoked})
    text = "\n".join([
        "# Written by `hashlist hub tiles-access` from the hub's grants and revocations:",
        "# do not edit. Run it again after any grant, revocation or new partner, then",
        "# `nginx -t && nginx -s reload` (docs/tiles.md).",
        'map "$ssl_client_s_dn/$hashlist_list" $hashlist_granted {',
        "    default 0;",
        *grants,
        "}",
        "map $ssl_client_serial $hashlist_revoked {",
        "    default 0;",
        *(f'    "{s}" 1;' for s in serials),
        "}",
        "",
    ])  # fmt: skip
    return AccessMap(text, len(grants), len(serials), tuple(skipped))


__all__ = ["AccessMap", "nginx_access_map", "nginx_serial", "normalized_serial", "revoked_serials"]
