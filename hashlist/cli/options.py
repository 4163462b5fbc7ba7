"""Options several commands share, and the environment variables behind their defaults.

This is the only place the ``hashlist`` command reads the environment:

==========================  ====================================================
``HASHLIST_HUB``            the hub's host:port (default ``127.0.0.1:7443``)
``HASHLIST_CA``             the CA that issued the hub's certificate
``HASHLIST_CERT``           this client's certificate (operator or auditor)
``HASHLIST_KEY``            its private key
``HASHLIST_TRUST_ROOT``     the trust root auditors verify with
``HASHLIST_WITNESS_CONFIG`` ``hashlist witness serve``'s config file
==========================  ====================================================

There is no default certificate: a client names its own (the committed
``certs-dev/`` is for tests only and never used unless given).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily: ``hashlist --help`` must not load gRPC
    from hashlist.client import HubClient

ENV = os.environ


def hub_options(p: argparse.ArgumentParser, *, role: str) -> None:
    """How to reach the hub with mTLS as ``role`` (``operator`` or ``auditor``)."""
    p.add_argument("--hub", default=ENV.get("HASHLIST_HUB", "127.0.0.1:7443"), help="host:port")
    p.add_argument("--ca", type=Path, default=ENV.get("HASHLIST_CA"),
                   help="CA of the hub's certificate (or HASHLIST_CA)")  # fmt: skip
    p.add_argument("--cert", type=Path, default=ENV.get("HASHLIST_CERT"),
                   help=f"this {role}'s certificate (or HASHLIST_CERT)")  # fmt: skip
    p.add_argument("--key", type=Path, default=ENV.get("HASHLIST_KEY"),
                   help="its private key (or HASHLIST_KEY)")  # fmt: skip


def daemon_options(p: argparse.ArgumentParser) -> None:
    """Logging flags of every daemon; each overrides the same key of its TOML config."""
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                   help="override log_level (default info)")  # fmt: skip
    p.add_argument("--log-format", choices=("text", "json"),
                   help="override log_format: text, or one JSON object per line")  # fmt: skip


def daemon_overrides(args: argparse.Namespace) -> dict[str, object]:
    return {"log_level": args.log_level, "log_format": args.log_format}


def served_options(p: argparse.ArgumentParser, name: str, *, source: str, listen: str) -> None:
    """What every served daemon takes: ``--config`` (default from ``HASHLIST_<NAME>_CONFIG``,
    else ``<name>.toml``), ``--listen`` and the logging flags."""
    default = ENV.get(f"HASHLIST_{name.upper()}_CONFIG", f"{name}.toml")
    p.add_argument("--config", type=Path, default=Path(default),
                   help=f"{name} TOML (see {source})")  # fmt: skip
    p.add_argument("--listen", help=f"{listen}, overriding the config file")
    daemon_options(p)


def served_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The overrides of ``served_options``, for the daemon's config loader."""
    return {"listen": args.listen, **daemon_overrides(args)}


def trust_root_option(p: argparse.ArgumentParser) -> None:
    default = ENV.get("HASHLIST_TRUST_ROOT", "trust.toml")
    p.add_argument("--trust-root", type=Path, default=default, help="trust root TOML")


def list_id_arg(text: str) -> str:
    """A list id checked as it is parsed: a bad one is a usage error (exit 2), before
    anything is sent."""
    from hashlist.delta import validate_list_id
    from hashlist.errors import InputError

    try:
        return validate_list_id(text)
    except InputError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def hub_client(args: argparse.Namespace) -> HubClient:
    from hashlist.client import ClientTLS, HubClient
    from hashlist.errors import InputError

    missing = [f"--{name}" for name in ("ca", "cert", "key") if getattr(args, name) is None]
    if missing:
        raise InputError(
            f"give {', '.join(missing)} (or HASHLIST_CA, HASHLIST_CERT, HASHLIST_KEY): "
            "the hub is reached with mTLS, as a certificate's holder"
        )
    return HubClient(args.hub, ClientTLS(args.ca, args.cert, args.key))
