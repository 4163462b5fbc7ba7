"""``hashlist node ...``: run a node, and report on its replica."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

from hashlist.clock import SystemClock
from node.config import load_node_config
from node.daemon import effective_trust, format_status, run_node, status_rows
from node.store import NodeStore


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    node = sub.add_parser("node", help="run a partner node, or report on one")
    cmds = node.add_subparsers(dest="node_command", required=True)

    p = cmds.add_parser("run", help="follow the configured lists until SIGTERM")
    p.add_argument("--config", type=Path, required=True, help="node TOML (see node/config.py)")
    p.set_defaults(func=_run)

    p = cmds.add_parser("status", help="per list: version, hashes, digest, age, lag, alarm")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--json", action="store_true", help="one JSON object per list")
    p.set_defaults(func=_status)


def _run(args: argparse.Namespace) -> int:
    config = load_node_config(args.config)
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s node {config.name} %(levelname)s %(message)s"
    )
    run_node(config)
    return 0


def _status(args: argparse.Namespace) -> int:
    config = load_node_config(args.config)
    store = NodeStore(config.database)
    try:
        rows = status_rows(config, store, effective_trust(config), SystemClock().now())
    finally:
        store.close()
    if args.json:
        for r in rows:
            print(json.dumps(dataclasses.asdict(r)))
    else:
        print(format_status(rows))
    return 1 if any(r.halted or (r.alarm and r.alarm != "stale") for r in rows) else 0
