"""``hashlist node ...``: run a node, report on its replica, check content, record verdicts."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hashlist.cli import exits
from hashlist.cli.options import daemon_options, daemon_overrides
from hashlist.errors import InputError
from hashlist.model import VERDICTS, CheckResult

if TYPE_CHECKING:  # imported lazily: ``hashlist --help`` must not load gRPC or numba
    from node.config import NodeConfig
    from node.service import MatcherClient


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    node = sub.add_parser("node", help="run a partner node, or report on one")
    cmds = node.add_subparsers(dest="node_command", required=True)

    p = cmds.add_parser("run", help="follow the configured lists until SIGTERM")
    p.add_argument("--config", type=Path, required=True, help="node TOML (see node/config.py)")
    daemon_options(p)
    p.set_defaults(func=_run)

    p = cmds.add_parser("status", help="per list: version, hashes, digest, age, lag, alarm")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--json", action="store_true", help="one JSON object per list")
    p.set_defaults(func=_status)

    p = cmds.add_parser("check", help="ask the running node whether files match a listed hash")
    p.add_argument("files", nargs="*", metavar="FILE")
    p.add_argument("--batch", metavar="JSONL",
                   help="check each JSON line of this file ('-': standard input) and write "
                        "one JSON line per answer, in order (see docs/integration.md)")  # fmt: skip
    p.add_argument("--batch-size", type=_batch_size, default=1000,
                   help="lines per CheckBatch call (1 to 10000; default 1000)")  # fmt: skip
    p.add_argument("--config", type=Path, help="the node's TOML (dials its local socket)")
    p.add_argument("--matcher", metavar="HOST:PORT",
                   help="a node's Matcher over TCP instead of --config's local socket; "
                        "with --cert, --key and --ca for mutual TLS")  # fmt: skip
    p.add_argument("--cert", type=Path, help="this client's certificate (PEM), with --matcher")
    p.add_argument("--key", type=Path, help="this client's private key, with --matcher")
    p.add_argument("--ca", type=Path, help="the CA of the node's certificate, with --matcher")
    p.add_argument("--content-id", default="", help="your id for the content (sent as an HMAC)")
    p.add_argument(
        "--send-content",
        action="store_true",
        help="send the bytes for the node to hash (default: hash here, send only hashes)",
    )
    p.add_argument("--no-report", dest="report", action="store_false",
                   help="a dry run: answer, report nothing to the hub")  # fmt: skip
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.set_defaults(func=_check)

    p = cmds.add_parser("verdict", help="record your decision on a reported match")
    p.add_argument("report_id")
    p.add_argument("verdict", choices=VERDICTS)
    p.add_argument("--config", type=Path, required=True)
    p.set_defaults(func=_verdict)


def _run(args: argparse.Namespace) -> int:
    from hashlist.logs import setup_logging
    from node.config import load_node_config
    from node.daemon import run_node

    config = load_node_config(args.config, daemon_overrides(args))
    setup_logging(f"node/{config.name}", config.log_level, config.log_format)
    run_node(config)
    return exits.OK


def _status(args: argparse.Namespace) -> int:
    from hashlist.clock import SystemClock
    from node.config import load_node_config
    from node.daemon import effective_trust
    from node.instance import node_running
    from node.status import format_status, status_row
    from node.store import SqliteReplicaReader

    config = load_node_config(args.config)
    if not config.database.is_file():
        raise InputError(f"{config.database}: no node database (has this node ever run?)")
    replica = SqliteReplicaReader(config.database)  # read-only
    try:
        trust, now = effective_trust(config, replica), SystemClock().now()
        running = node_running(config.database)
        rows = [status_row(config.name, replica.record(list_id), replica.count(list_id), trust,
                           now, running=running)
                for list_id in config.lists]  # fmt: skip
    finally:
        replica.close()
    if args.json:
        for r in rows:
            print(json.dumps(dataclasses.asdict(r)))
    else:
        print(format_status(rows))
    return exits.OK if all(r.healthy for r in rows) else exits.NEGATIVE


def _batch_size(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10_000:
        raise argparse.ArgumentTypeError(f"must be 1 to 10000, got {text!r}")
    return int(text)


def _matcher(config: NodeConfig) -> MatcherClient:
    from node.service import MatcherClient

    return MatcherClient(config.matcher_address, max_message_bytes=config.max_check_bytes + 4096)


def _check_client(args: argparse.Namespace) -> MatcherClient:
    """The Matcher ``node check`` talks to: ``--matcher`` (TLS with all three files, or a
    local address without), else the local socket of ``--config``'s node."""
    from hashlist.client import ClientTLS
    from node.config import load_node_config
    from node.service import MatcherClient

    tls_files = (args.cert, args.key, args.ca)
    if args.matcher is None:
        if args.config is None or any(tls_files):
            raise InputError("give --config (the node's TOML), or --matcher HOST:PORT "
                             "with --cert, --key and --ca")  # fmt: skip
        return _matcher(load_node_config(args.config))
    if any(tls_files) and not all(tls_files):
        raise InputError("--matcher with TLS needs all of --cert, --key and --ca")
    tls = ClientTLS(args.ca, args.cert, args.key) if all(tls_files) else None
    return MatcherClient(args.matcher, tls=tls)


def _check(args: argparse.Namespace) -> int:
    from hashlist.hashing import HashingError, hash_files

    if bool(args.files) == bool(args.batch):
        raise InputError("give FILEs to check, or --batch JSONL, one of them")
    failed = 0
    with _check_client(args) as client:
        if args.batch:
            from hashlist.cli.batch import run_batch

            failed = run_batch(client, args.batch, batch_size=args.batch_size,
                               send_content=args.send_content, out=sys.stdout)  # fmt: skip
            return exits.NEGATIVE if failed else exits.OK
        for result in hash_files([Path(f) for f in args.files]):
            if isinstance(result, HashingError):
                failed += 1
                print(f"hashlist node check: {result}", file=sys.stderr)
                continue
            if args.send_content:
                answer = client.check(content=Path(result.name).read_bytes(),
                                      content_id=args.content_id, report=args.report)  # fmt: skip
            else:
                answer = client.check(signals=result.signals, pdq_quality=result.pdq_quality,
                                      content_id=args.content_id, report=args.report)  # fmt: skip
            _print_check(result.name, answer, as_json=args.json)
    return exits.NEGATIVE if failed else exits.OK


def _print_check(name: str, answer: CheckResult, *, as_json: bool) -> None:
    if as_json:
        matches = [dataclasses.asdict(m) for m in answer.matches]
        print(json.dumps({"file": name, "matches": matches, "signals": list(answer.signals),
                          "notes": list(answer.notes)}))  # fmt: skip
        return
    print(f"{name}: {len(answer.matches) or 'no'} match{'es' if len(answer.matches) != 1 else ''}")
    for m in answer.matches:
        print(f"  {m.list_id}  {m.signal[:24]}...  distance {m.distance}  "
              f"listed in version {m.version}  report {m.report_id}")  # fmt: skip
    for note in answer.notes:
        print(f"  note: {note}")


def _verdict(args: argparse.Namespace) -> int:
    from node.config import load_node_config

    config = load_node_config(args.config)
    with _matcher(config) as client:
        print(f"verdict {client.verdict(args.report_id, args.verdict)} recorded; "
              "it reaches the hub with the next delivery")  # fmt: skip
    return exits.OK
