"""The ``hashlist`` command: the composition root, the only place that imports every app.

=====================================  ===========================================
``keygen``, ``trust-root``             keys and trust roots (``cli/keys.py``)
``hash FILE...``                       hash files on this device, offline
``hub serve|create-list|grant|...``    the hub and the operator (``cli/hub.py``)
``node run|status|check|verdict``      a partner's node (``cli/node.py``)
``audit ...``                          an auditor's checks (``cli/audit.py``)
``witness serve``                      a tlog-witness (``cli/witness.py``)
``intake serve|page``                  the victims' front door (``cli/intake.py``)
``demo``                               a whole local federation (``cli/demo.py``)
=====================================  ===========================================

Invariants: environment variables are read only in ``cli/options.py``;
errors are printed as one line, never as a stack trace, and every command's
exit status follows the one policy in ``cli/exits.py``. Modules of this
package import apps (and gRPC, numpy, numba) inside the command that needs
them, so ``hashlist --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from hashlist.cli import audit, console, exits, hub, intake, keys, node, pki, witness
from hashlist.errors import HashlistError, InputError
from hashlist.signals import DEFAULT_MAX_PIXELS


def _hash(args: argparse.Namespace) -> int:
    from hashlist.hashing import HashingError, hash_files
    from hashlist.video import VideoLimits

    video = VideoLimits(seconds_per_hash=args.seconds_per_hash, downsample=args.downsample)
    failed = 0
    paths = [Path(p) for p in args.files]
    for result in hash_files(paths, max_pixels=args.max_pixels, video=video):
        if isinstance(result, HashingError):
            failed += 1
            print(f"hashlist hash: {result}", file=sys.stderr)
        else:
            print(json.dumps(result.to_json()), flush=True)
    return exits.NEGATIVE if failed else exits.OK


def _demo(args: argparse.Namespace) -> int:
    from hashlist.cli.demo import run_federation

    return run_federation(hashes=args.hashes, workdir=Path(args.workdir), serve=args.serve)


def _dev_pki(args: argparse.Namespace) -> int:
    from hashlist.devpki import DEV_PARTNERS, write_dev_pki

    if args.out.exists() and any(args.out.iterdir()):
        raise InputError(f"{args.out} is not empty: write a development PKI into a new folder")
    write_dev_pki(args.out)
    names = ", ".join(("hub", *DEV_PARTNERS, "operator", "auditor", "witness", "intake"))
    print(f"{args.out}: ca.pem and certificates for {names} (servers: localhost)")
    print("development only: its CA key is thrown away, so nothing can be issued or revoked "
          "later; a hub given this CA logs a warning")  # fmt: skip
    return exits.OK


def _proto(args: argparse.Namespace) -> int:
    from importlib.resources import files

    source = files("hashlist.v1").joinpath("hashlist.proto")
    out = args.out / "hashlist" / "v1" / "hashlist.proto"  # the path imports expect
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(source.read_bytes())
    print(f"{out}: services Log, Admin, Reports, Cases (the hub) and Matcher (a node)")
    return exits.OK


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hashlist")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def _seconds_per_hash(text: str) -> float:
    """A number of seconds >= 0, or a usage error (exit 2) saying so."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds from 0 (every frame) to 3600"
        )
    return value


def _downsample(text: str) -> tuple[int, int]:
    """``WxH`` (each 5..4096), or a usage error saying so."""
    w, sep, h = text.lower().partition("x")
    if sep and w.isdecimal() and h.isdecimal() and all(5 <= int(v) <= 4096 for v in (w, h)):
        return int(w), int(h)
    raise argparse.ArgumentTypeError(
        f"{text!r} is not WIDTHxHEIGHT with each side from 5 to 4096 pixels, e.g. 128x128"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hashlist", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"hashlist {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    keys.add_commands(sub)
    p = sub.add_parser("hash", help="hash files on this machine (nothing is sent anywhere)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help=f"refuse larger images ({DEFAULT_MAX_PIXELS:,} pixels)")  # fmt: skip
    p.add_argument(
        "--seconds-per-hash",
        type=_seconds_per_hash,
        default=1.0,
        metavar="S",
        help="videos: hash one frame every S seconds (default 1; 0 = every frame)",
    )
    p.add_argument(
        "--downsample",
        type=_downsample,
        metavar="WxH",
        help="videos: hash frames scaled to W x H pixels (default: native size)",
    )
    p.set_defaults(func=_hash)  # fmt: skip
    p = sub.add_parser("demo", help="run a hub, a witness and three nodes; publish, verify, stop")
    p.add_argument("--hashes", type=int, default=10_000, help="hashes in the first publication")
    p.add_argument("--workdir", default="run/demo", help="scratch folder (emptied first)")
    p.add_argument(
        "--serve", action="store_true", help="keep it running afterwards, to try the hashing page"
    )
    p.set_defaults(func=_demo)
    p = sub.add_parser(
        "dev-pki", help="write a development CA and certificates for localhost (to try it only)"
    )
    p.add_argument("--out", type=Path, required=True, help="folder for ca.pem, NAME.pem, NAME.key")
    p.set_defaults(func=_dev_pki)
    p = sub.add_parser("proto", help="write the .proto files, for clients in other languages")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_proto)
    hub.add_commands(sub)
    pki.add_commands(sub)
    node.add_commands(sub)
    audit.add_commands(sub)
    witness.add_commands(sub)
    intake.add_commands(sub)
    console.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0), or a usage error argparse has printed (2)
        return e.code if isinstance(e.code, int) else exits.USAGE
    try:
        return int(args.func(args))
    except HashlistError as e:
        print(f"hashlist: {type(e).__name__}: {e}", file=sys.stderr)
        return exits.exit_status(e)
    except OSError as e:
        print(f"hashlist: {e}", file=sys.stderr)
        return exits.USAGE
