"""The ``hashlist`` command line.

* ``keygen NAME [--cosigner] [--out DIR]``: a signer key file and its verifier
  key string (C2SP signed-note formats). Private keys are written 0600.
* ``trust-root``: assemble and validate a trust root TOML from verifier keys;
  with ``--sign-with`` root key files, the signed note of a rotation instead.
* ``witness serve`` (``witness/cli.py``).
* ``hub serve|create-list|grant|revoke|publish|status`` (``server/cli.py``).
* ``node run|status`` (``node/cli.py``).
* ``hash FILE...``: one JSON line per file (pdq, phash, md5, sha256), offline.
* ``audit replay|verify-replica`` (``auditor/cli.py``).
* ``demo``: a whole local federation in real processes (``hashlist/federation.py``).

Environment variables are read here and nowhere else; errors from the core
are printed as one line, never as a stack trace.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from auditor import cli as audit_cli
from hashlist.errors import HashlistError, InputError, UnavailableError
from hashlist.federation import run_federation
from hashlist.hashing import HashingError, hash_files
from hashlist.note import COSIGNATURE_V1, ED25519, Signer, Verifier
from hashlist.rotation import sign_trust_root
from hashlist.serving import load_signer
from hashlist.trustroot import TrustRoot
from node import cli as node_cli
from server import cli as server_cli
from witness import cli as witness_cli


def _keygen(args: argparse.Namespace) -> int:
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
    return 0


def _trust_root(args: argparse.Namespace) -> int:
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
        return 0
    signers = [load_signer(Path(k), ED25519, "root key") for k in args.sign_with]
    sys.stdout.write(sign_trust_root(root, signers).decode())
    return 0


def _unix(text: str) -> int:
    try:
        when = datetime.fromisoformat(text)
    except ValueError as e:
        raise InputError(f"--expires {text!r} is not a date-time like 2027-01-01T00:00:00Z") from e
    if when.tzinfo is None:
        raise InputError(f"--expires {text!r} needs a time zone, e.g. a trailing Z")
    return int(when.timestamp())


def _hash(args: argparse.Namespace) -> int:
    failed = 0
    for result in hash_files([Path(p) for p in args.files]):
        if isinstance(result, HashingError):
            failed += 1
            print(f"hashlist hash: {result}", file=sys.stderr)
        else:
            print(json.dumps(result.to_json()), flush=True)
    return 1 if failed else 0


def _demo(args: argparse.Namespace) -> int:
    return run_federation(hashes=args.hashes, workdir=Path(args.workdir))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hashlist", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

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

    p = sub.add_parser("hash", help="hash files on this machine (nothing is sent anywhere)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=_hash)

    p = sub.add_parser("demo", help="run a hub and three nodes, publish, verify, stop")
    p.add_argument("--hashes", type=int, default=10_000, help="size of the first delta")
    p.add_argument("--workdir", default="run/demo", help="scratch folder (emptied first)")
    p.set_defaults(func=_demo)

    server_cli.add_commands(sub)
    node_cli.add_commands(sub)
    audit_cli.add_commands(sub)
    witness_cli.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except HashlistError as e:
        print(f"hashlist: {type(e).__name__}: {e}", file=sys.stderr)
        return 3 if isinstance(e, UnavailableError) else 2
    except OSError as e:
        print(f"hashlist: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
