"""``hashlist hub tiles-access``: the web server's access map for the tiles' entry bundles.

The operator runs it (by hand, from cron or a systemd timer) after any grant,
revocation or new partner, then reloads nginx when it says it ``wrote`` the
file (an unchanged map is left alone): ``docs/tiles.md``. It reads
the partners and their grants (``Partners``) and the audit trail's
revocations (``Actions``) from the hub, and replaces the include whole, so
nginx never reads half of it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from hashlist.cli import exits
from hashlist.cli.options import hub_client
from hashlist.errors import InputError
from hashlist.files import write_durably
from hashlist.oversight import ActionRecord
from hashlist.tiles_access import REVOKE_ACTION, nginx_access_map, revoked_serials

_PAGE = 500


def add_commands(
    cmds: argparse._SubParsersAction[argparse.ArgumentParser],
    client_args: Callable[[argparse.ArgumentParser], None],
) -> None:
    p = cmds.add_parser(
        "tiles-access",
        help="write the web server's access map for the tiles' entry bundles (docs/tiles.md)",
    )
    p.add_argument("--nginx", type=Path, required=True, metavar="FILE",
                   help="the nginx include to write ('-': standard output)")  # fmt: skip
    client_args(p)
    p.set_defaults(func=_tiles_access)


def _tiles_access(args: argparse.Namespace) -> int:
    with hub_client(args) as client:
        partners = client.partners()
        revocations: list[ActionRecord] = []
        before = 0
        while True:  # the whole audit trail, newest first, a page at a time
            page = client.actions(before=before, limit=_PAGE)
            revocations += [a for a in page if a.action == REVOKE_ACTION]
            if not page or page[-1].id <= 1:
                break
            before = page[-1].id
    access = nginx_access_map(partners, revoked_serials(partners, revocations))
    for why in access.skipped:
        print(f"warning: left out {why}", file=sys.stderr)
    if str(args.nginx) == "-":
        sys.stdout.write(access.text)
        return exits.OK
    counts = f"{access.grants} grants, {access.revoked} revoked serials"
    if _current(args.nginx) == access.text:
        print(f"unchanged {args.nginx}: {counts}")  # nothing to reload
        return exits.OK
    _replace(args.nginx, access.text)
    print(f"wrote {args.nginx}: {counts}; now `nginx -t && nginx -s reload`")
    return exits.OK


def _current(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` at once (nginx reads it: partner names and serials,
    no secret)."""
    try:
        write_durably(path, text.encode())
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror}") from e
