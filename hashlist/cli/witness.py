"""``hashlist witness serve``: run a C2SP tlog-witness for one or more hubs."""

from __future__ import annotations

import argparse

from hashlist.cli import exits
from hashlist.cli.options import (
    served_options,
    served_overrides,
)


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    witness = sub.add_parser("witness", help="cosign hub checkpoints that extend what it saw")
    cmds = witness.add_subparsers(dest="witness_command", required=True)
    p = cmds.add_parser("serve", help="serve POST /add-checkpoint over HTTPS")
    served_options(p, "witness", source="witness/config.py", listen="host:port")
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from hashlist.logs import setup_logging
    from witness.config import load_witness_config
    from witness.server import serve_forever

    config = load_witness_config(args.config, served_overrides(args))
    setup_logging("witness", config.log_level, config.log_format)
    serve_forever(config)
    return exits.OK
