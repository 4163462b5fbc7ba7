"""``hashlist hub ...``: serve the hub, and the operator's commands against it.

Connection settings for the operator's commands come from flags, or from the
environment (``hashlist.cli.options``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from hashlist.cli import cases, exits, oversight, tiles_access
from hashlist.cli.options import (
    daemon_options,
    daemon_overrides,
    hub_client,
    hub_options,
    list_id_arg,
)
from hashlist.errors import InputError
from hashlist.model import Partner


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hub = sub.add_parser("hub", help="run the hub, or administer it as the operator")
    cmds = hub.add_subparsers(dest="hub_command", required=True)

    p = cmds.add_parser("serve", help="run the hub until SIGTERM")
    p.add_argument("--config", type=Path, required=True, help="hub TOML (see server/config.py)")
    p.add_argument("--listen", help="override the config's host:port")
    daemon_options(p)
    p.set_defaults(func=_serve)

    def client_args(p: argparse.ArgumentParser) -> None:
        hub_options(p, role="operator")

    def action_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--reason", default="", help="why, for the hub's audit trail")
        client_args(p)

    p = cmds.add_parser("create-list", help="create a list")
    p.add_argument("list_id", type=list_id_arg)
    action_args(p)
    p.set_defaults(func=lambda a: _print(hub_client(a).create_list(a.list_id, reason=a.reason),
                                         "created", "exists"))  # fmt: skip

    p = cmds.add_parser("grant", help="grant a partner read access to a list")
    p.add_argument("list_id", type=list_id_arg)
    p.add_argument("partner")
    p.add_argument(
        "--new-partner", action="store_true",
        help="the hub has not seen this partner yet (otherwise refused as a likely typo)",
    )  # fmt: skip
    action_args(p)
    p.set_defaults(func=_grant)

    p = cmds.add_parser(
        "revoke", help="revoke a partner's access to a list (LIST PARTNER), or a certificate"
    )
    p.add_argument("list_id", nargs="?", type=list_id_arg)
    p.add_argument("partner", nargs="?")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--certificate", type=Path, metavar="PEM",
                       help="refuse this certificate from now on (--cert is your own)")  # fmt: skip
    which.add_argument("--serial", help="... or the certificate with this serial (hex)")
    action_args(p)
    p.set_defaults(func=_revoke)

    p = cmds.add_parser("publish", help="publish additions and retractions to a list")
    p.add_argument("--list", dest="list_id", type=list_id_arg, required=True)
    p.add_argument("--add", nargs="*", default=[], help="signals kind:hex")
    p.add_argument("--remove", nargs="*", default=[], help="signals kind:hex to retract")
    p.add_argument("--add-file", type=Path, help="file of signals, one per line ('-' for stdin)")
    p.add_argument("--remove-file", type=Path, help="file of signals to retract")
    action_args(p)
    p.set_defaults(func=_publish)

    p = cmds.add_parser("status", help="every list: version, hashes, digest, partners")
    client_args(p)
    p.set_defaults(func=_status)

    p = cmds.add_parser("partners", help="partners: certificates, grants, versions verified, lag")
    p.add_argument("--json", action="store_true", help="one JSON object per partner")
    client_args(p)
    p.set_defaults(func=_partners)

    cases.add_commands(cmds, client_args)
    tiles_access.add_commands(cmds, client_args)
    oversight.add_commands(cmds, client_args)


def _print(flag: bool, yes: str, no: str) -> int:
    print(yes if flag else no)
    return exits.OK


EXPIRY_WARNING_DAYS = 30


def _partners(args: argparse.Namespace) -> int:
    import dataclasses

    with hub_client(args) as client:
        partners = client.partners()
    if args.json:
        for partner in partners:
            print(json.dumps(dataclasses.asdict(partner)))
        return exits.OK
    print(format_partners(partners, int(time.time())))
    return exits.OK


def format_partners(partners: list[Partner], now: int) -> str:
    def when(t: int) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t)) if t else "never"

    lines = []
    for p in partners:
        lines.append(f"{p.name}  (last seen {when(p.last_seen)})")
        for c in p.certificates:
            days = (c.not_after - now) // 86_400
            state = ("REVOKED" if c.revoked else "EXPIRED" if days < 0
                     else f"expires in {days} days" if days < EXPIRY_WARNING_DAYS
                     else f"valid until {when(c.not_after)[:10]}")  # fmt: skip
            lines.append(f"  certificate {c.serial[:16]}...  {state}")
        if not p.certificates:
            lines.append("  no certificate seen yet")
        for x in p.lists:
            version = f"version {x.version}, lag {x.lag}" if x.reported_at else "not reported yet"
            lines.append(f"  {x.list_id:<14} {version}")
        if not p.lists:
            lines.append("  no grants")
    return "\n".join(lines) if lines else "(no partners yet)"


def _grant(args: argparse.Namespace) -> int:
    with hub_client(args) as client:
        changed = client.grant(args.list_id, args.partner, new_partner=args.new_partner,
                               reason=args.reason)  # fmt: skip
    return _print(changed, "changed", "unchanged")


def _revoke(args: argparse.Namespace) -> int:
    certificate = args.certificate is not None or args.serial is not None
    if certificate == (args.list_id is not None or args.partner is not None):
        raise InputError(
            "give LIST PARTNER (a grant), or --certificate PEM or --serial S (a certificate)"
        )
    if not certificate:
        if args.partner is None:
            raise InputError("give the partner whose access to revoke: LIST PARTNER")
        with hub_client(args) as client:
            return _print(client.grant(args.list_id, args.partner, granted=False,
                                       reason=args.reason), "changed", "unchanged")  # fmt: skip
    serial = args.serial
    if args.certificate is not None:
        from hashlist.identity import identity_from_pem

        try:
            serial = identity_from_pem(args.certificate.read_bytes()).serial
        except OSError as e:
            raise InputError(f"cannot read {args.certificate}: {e.strerror}") from e
    with hub_client(args) as client:
        new = client.revoke_certificate(serial, reason=args.reason)
    print(f"certificate {serial} {'revoked' if new else 'was already revoked'}: "
          "its calls are refused and its streams end")  # fmt: skip
    return exits.OK


def _serve(args: argparse.Namespace) -> int:
    from hashlist.logs import setup_logging
    from server.config import load_hub_config
    from server.serve import serve_forever

    config = load_hub_config(args.config, {"listen": args.listen, **daemon_overrides(args)})
    setup_logging("hub", config.log_level, config.log_format)
    serve_forever(config)
    return exits.OK


LARGE = 100_000  # hashes from which publishing shows its progress


def _publish(args: argparse.Namespace) -> int:
    from hashlist.signal_file import read_publication, read_signals
    from hashlist.signals import canonical
    from hashlist.vpdq import FrameSet

    # Everything is read and checked before anything is sent: a bad line
    # anywhere publishes nothing.
    adds = [canonical(s) for s in args.add]
    removes = [canonical(s) for s in args.remove]
    videos: list[FrameSet] = []
    if args.add_file is not None:
        signals, videos = read_publication(args.add_file, sys.stdin.buffer)
        adds += signals
    if args.remove_file is not None:
        removes += read_signals(args.remove_file, sys.stdin.buffer)
    if not adds and not removes:
        raise InputError("nothing to publish: give --add/--add-file or --remove/--remove-file")
    from hashlist.progress import progress

    total = len(adds) + len(removes)
    with (
        hub_client(args) as client,
        progress(total, f"sending to {args.list_id}", "hashes", quiet=total < LARGE) as bar,
    ):
        r = client.publish(
            args.list_id, adds, removes, on_sent=bar.advance, reason=args.reason, videos=videos
        )  # one publication
    print(f"{args.list_id}: {r.versions}: +{r.added} -{r.removed}"
          + (f", {r.already_listed_count} already listed" if r.already_listed_count else "")
          + (f", {r.not_listed_count} not listed" if r.not_listed_count else "")
          + (" (replayed: published earlier)" if r.replayed else ""))  # fmt: skip
    return exits.OK


def _status(args: argparse.Namespace) -> int:
    with hub_client(args) as client:
        print(f"{'list':<14} {'version':>8} {'hashes':>9}  {'state digest':<20} partners")
        for s in client.status():
            print(f"{s.list_id:<14} {s.size:>8} {s.hashes:>9}  {s.state_digest.hex()[:16]}...    "
                  f"{', '.join(s.partners) or '-'}")  # fmt: skip
    return exits.OK
