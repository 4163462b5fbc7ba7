"""``hashlist intake serve|page``: the victim's front door.

``serve`` runs the public HTTPS service (the API and the hashing page), which
forwards cases to the hub with an ``intake`` certificate; ``page`` writes the
hashing page as static files for any web server or CDN.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hashlist.cli import exits
from hashlist.cli.options import (
    served_options,
    served_overrides,
)


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    intake = sub.add_parser("intake", help="the victims' front door: the page and case API")
    cmds = intake.add_subparsers(dest="intake_command", required=True)
    p = cmds.add_parser("serve", help="serve the case API and the hashing page until SIGTERM")
    served_options(p, "intake", source="server/intake/config.py", listen="host:port")
    p.set_defaults(func=_serve)

    p = cmds.add_parser("page", help="write the hashing page's static files into a folder")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--api", default="",
                   help="https origin of the intake API, if the page is hosted elsewhere "
                        "(the intake must then allow the page's origin)")  # fmt: skip
    p.set_defaults(func=_page)


def _serve(args: argparse.Namespace) -> int:
    from hashlist.logs import setup_logging
    from server.intake.config import load_intake_config
    from server.intake.serve import serve_forever

    config = load_intake_config(args.config, served_overrides(args))
    setup_logging("intake", config.log_level, config.log_format)
    serve_forever(config)
    return exits.OK


def _page(args: argparse.Namespace) -> int:
    from server.intake.static import write_page

    written = write_page(args.out, args.api)
    print(f"{args.out}: {len(written)} files ({', '.join(p.name for p in written)}); "
          "host them over HTTPS, as they are (the page loads nothing else)")  # fmt: skip
    return exits.OK
