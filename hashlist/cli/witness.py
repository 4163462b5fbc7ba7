"""``hashlist witness serve``: run a C2SP tlog-witness for one or more hubs."""

from __future__ import annotations

import argparse
from pathlib import Path

from hashlist.cli import exits
from hashlist.cli.options import ENV, daemon_options, daemon_overrides


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    witness = sub.add_parser("witness", help="cosign hub checkpoints that extend what it saw")
    cmds = witness.add_subparsers(dest="witness_command", required=True)
    p = cmds.add_parser("serve", help="serve POST /add-checkpoint over HTTPS")
    default = ENV.get("HASHLIST_WITNESS_CONFIG", "witness.toml")
    p.add_argument("--config", type=Path, default=Path(default))
    p.add_argument("--listen", help="host:port, overriding the config file")
    daemon_options(p)
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from hashlist.logs import setup_logging
    from witness.config import load_witness_config
    from witness.server import serve_forever

    config = load_witness_config(args.config, {"listen": args.listen, **daemon_overrides(args)})
    setup_logging("witness", config.log_level, config.log_format)
    serve_forever(config)
    return exits.OK
