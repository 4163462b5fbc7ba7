"""``hashlist console``: the operator's console, a web server on loopback.

It talks to the hub with the operator's certificate and prints a one-time login
link at start (``server.console.auth`` argues why). Audit bundles offered for
download are made here, in the composition root, by the auditor's own export
(verified while it downloads), so the console itself imports no other app.
"""

from __future__ import annotations

import argparse
import io
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hashlist.cli import exits
from hashlist.cli.options import (
    served_options,
    served_overrides,
)


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("console", help="the operator's console in a browser (loopback)")
    served_options(p, "console", source="server/console/config.py", listen="host:port on loopback")
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from hashlist.logs import setup_logging
    from server.console.config import load_console_config
    from server.console.serve import serve_forever

    config = load_console_config(args.config, served_overrides(args))
    setup_logging("console", config.log_level, config.log_format)
    serve_forever(config, bundle_exporter(config.hub, config.hub_ca, config.cert, config.key,
                                          config.trust_root))  # fmt: skip
    return exits.OK


def bundle_exporter(
    hub: str, hub_ca: Path, cert: Path, key: Path, trust_root: Path
) -> Callable[[str], bytes]:
    """A list's audit bundle as a .tar.gz, exported (and verified) with ``trust_root``
    and every newer trust-root version the hub serves."""

    def export(list_id: str) -> bytes:
        from auditor.history import trust_chain
        from auditor.replay import export_list
        from hashlist.client import ClientTLS, HubClient
        from hashlist.trustroot import load_trust_root

        with (
            tempfile.TemporaryDirectory(prefix="hashlist-bundle-") as tmp,
            HubClient(hub, ClientTLS(hub_ca, cert, key)) as client,
        ):
            chain = trust_chain(load_trust_root(trust_root), client, int(time.time()))
            out = Path(tmp) / f"{list_id}-audit-bundle"
            export_list(client, chain, list_id, Path(tmp) / "seen", out)
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
                tar.add(out, arcname=out.name)
            return buffer.getvalue()

    return export
