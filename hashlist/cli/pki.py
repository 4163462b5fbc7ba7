"""``hashlist pki``: the operator's CA, a holder's key and request, an issued certificate.

The CA key and every holder's key are written with mode 0600 and never
overwritten. ``issue`` records each certificate it makes in the CA folder's
``issued.jsonl`` (serial, role, name, expiry), so the operator knows what to
revoke.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
from pathlib import Path

from hashlist.cli import exits
from hashlist.errors import InputError


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pki = sub.add_parser("pki", help="the operator's CA; partners' keys, requests, certificates")
    cmds = pki.add_subparsers(dest="pki_command", required=True)

    p = cmds.add_parser("init-ca", help="make the operator's CA: DIR/ca.pem and DIR/ca.key")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--name", default="hashlist partners CA", help="the CA's common name")
    p.set_defaults(func=_init_ca)

    p = cmds.add_parser("request", help="make a key (kept here) and a request to send")
    p.add_argument("--role", required=True,
                   help="partner, operator, auditor, intake "
                        "(hub, witness: with --dns/--ip)")  # fmt: skip
    p.add_argument("--name", required=True, help="e.g. the partner's name: facebook")
    p.add_argument("--out", type=Path, required=True, help="folder for NAME.key and NAME.csr")
    p.add_argument("--dns", action="append", default=[], help="a server's host name")
    p.add_argument("--ip", action="append", default=[], help="a server's IP address")
    p.set_defaults(func=_request)

    p = cmds.add_parser("issue", help="issue a certificate for a request (operator, with the CA)")
    p.add_argument("csr", type=Path)
    p.add_argument("--role", required=True, help="the role you are issuing (must match)")
    p.add_argument("--name", required=True, help="the name you are issuing (must match)")
    p.add_argument("--dns", action="append", default=[], help="a server's host name (must match)")
    p.add_argument("--ip", action="append", default=[], help="a server's address (must match)")
    p.add_argument("--ca", type=Path, required=True, help="the folder init-ca wrote")
    p.add_argument("--out", type=Path, required=True, help="where to write the certificate")
    p.add_argument("--days", type=int, help="validity (default: 365 for clients, 825 servers)")
    p.set_defaults(func=_issue)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise InputError(f"{path} exists: never overwritten (move it away first)") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _init_ca(args: argparse.Namespace) -> int:
    from hashlist.pki import new_ca

    args.out.mkdir(parents=True, exist_ok=True)
    for existing in ("ca.key", "ca.pem"):
        if (args.out / existing).exists():
            raise InputError(f"{args.out / existing} exists: a CA is made once, never replaced")
    cert, key = new_ca(args.name, now=_now())
    _write_new(args.out / "ca.pem", cert, 0o644)
    _write_new(args.out / "ca.key", key, 0o600)
    print(f"{args.out}/ca.pem: give it to the hub (client_ca) and to every node (ca)")
    print(f"{args.out}/ca.key: needed only to issue; keep it offline (an encrypted "
          "removable disk), never on the hub")  # fmt: skip
    return exits.OK


def _request(args: argparse.Namespace) -> int:
    from hashlist.pki import new_request, parse_role

    role = parse_role(args.role)
    key, csr = new_request(role, args.name, dns=tuple(args.dns), ips=tuple(args.ip))
    args.out.mkdir(parents=True, exist_ok=True)
    _write_new(args.out / f"{args.name}.key", key, 0o600)
    _write_new(args.out / f"{args.name}.csr", csr, 0o644)
    print(f"{args.out}/{args.name}.key: your private key; it never leaves this machine")
    print(f"{args.out}/{args.name}.csr: send this to the hub's operator")
    return exits.OK


def _issue(args: argparse.Namespace) -> int:
    from hashlist.pki import issue, parse_role

    if args.out.exists():
        raise InputError(f"{args.out} exists: never overwritten (move it away first)")
    try:
        csr = args.csr.read_bytes()
        ca_cert = (args.ca / "ca.pem").read_bytes()
        ca_key = (args.ca / "ca.key").read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {e.filename}: {e.strerror}") from e
    issued = issue(csr, ca_cert, ca_key, now=_now(), role=parse_role(args.role), name=args.name,
                   dns=tuple(args.dns), ips=tuple(args.ip), days=args.days)  # fmt: skip
    # Recorded before it is written: a serial may be listed for a certificate a crash
    # never wrote, never the other way round.
    record = {"serial": f"{issued.serial:x}", "role": issued.role.value, "name": issued.name,
              "not_after": issued.not_after}  # fmt: skip
    with (args.ca / "issued.jsonl").open("a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())
    _write_new(args.out, issued.cert_pem, 0o644)
    expiry = datetime.datetime.fromtimestamp(issued.not_after, datetime.UTC).date()
    print(f"{args.out}: {issued.role.value} {issued.name}, serial {issued.serial:x}, "
          f"valid until {expiry}")  # fmt: skip
    return exits.OK
