"""``hashlist keygen`` and ``hashlist trust-root``: the hub's keys and the trust root nodes use."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path

from hashlist.cli import exits
from hashlist.errors import InputError


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("keygen", help="generate a signing key (log key or cosigner)")
    p.add_argument("name", help="key name, a schema-less URL such as hub.example/log")
    p.add_argument("--cosigner", action="store_true", help="a cosignature/v1 (timestamp) key")
    p.add_argument("--out", default=".", help="directory for NAME.key and NAME.pub")
    p.set_defaults(func=_keygen)

    p = sub.add_parser("trust-root", help="print a validated trust root TOML")
    p.add_argument("--hub", required=True)
    p.add_argument("--log-key", action="append", required=True, help="verifier key (repeatable)")
    p.add_argument("--timestamp-key", required=True, help="cosignature/v1 verifier key")
    p.add_argument("--witness-key", action="append", default=[], help="verifier key (repeatable)")
    p.add_argument("--witness-quorum", type=int, default=0)
    p.add_argument("--max-age", type=int, default=3600, help="seconds (default 3600)")
    p.add_argument("--version", type=int, default=1)
    p.add_argument("--root-key", action="append", default=[],
                   help="Ed25519 key allowed to sign the next version (repeatable)")  # fmt: skip
    p.add_argument("--root-threshold", type=int, default=1)
    p.add_argument("--expires", help="date-time after which nodes refuse to move to it")
    p.add_argument("--sign-with", action="append", default=[], metavar="KEY_FILE",
                   help="root signer key file; prints the signed version (repeatable)")  # fmt: skip
    p.set_defaults(func=_trust_root)


def _keygen(args: argparse.Namespace) -> int:
    from hashlist.note import COSIGNATURE_V1, ED25519, Signer

    signer = Signer.generate(args.name, COSIGNATURE_V1 if args.cosigner else ED25519)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.name.replace("/", "_")
    private = out / f"{stem}.key"
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{signer}\n")
    (out / f"{stem}.pub").write_text(f"{signer.verifier()}\n")
    print(signer.verifier())
    return exits.OK


def _trust_root(args: argparse.Namespace) -> int:
    from hashlist.note import ED25519, Verifier
    from hashlist.rotation import sign_trust_root
    from hashlist.serving import load_signer
    from hashlist.trustroot import TrustRoot

    root = TrustRoot(
        version=args.version,
        hub=args.hub,
        log_keys=tuple(Verifier.from_string(k) for k in args.log_key),
        timestamp_key=Verifier.from_string(args.timestamp_key),
        witness_keys=tuple(Verifier.from_string(k) for k in args.witness_key),
        witness_quorum=args.witness_quorum,
        max_checkpoint_age_seconds=args.max_age,
        root_keys=tuple(Verifier.from_string(k) for k in args.root_key),
        root_threshold=args.root_threshold,
        expires=_unix(args.expires) if args.expires else 0,
    )
    if not args.sign_with:
        sys.stdout.write(root.to_toml())
        return exits.OK
    signers = [load_signer(Path(k), ED25519, "root key") for k in args.sign_with]
    sys.stdout.write(sign_trust_root(root, signers).decode())
    return exits.OK


def _unix(text: str) -> int:
    try:
        when = datetime.fromisoformat(text)
    except ValueError as e:
        raise InputError(f"--expires {text!r} is not a date-time like 2027-01-01T00:00:00Z") from e
    if when.tzinfo is None:
        raise InputError(f"--expires {text!r} needs a time zone, e.g. a trailing Z")
    return int(when.timestamp())
