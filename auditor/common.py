"""What the ``hashlist audit`` commands share: options, the hub client, fetching a history."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from pathlib import Path

from hashlist.checkpoint import verify_checkpoint
from hashlist.client import ClientTLS, HubClient
from hashlist.rotation import walk
from hashlist.trustroot import TrustRoot, load_trust_root


def common_options(p: argparse.ArgumentParser, *, offline: bool = False) -> None:
    """--trust-root and --json; unless ``offline``, how to reach the hub as an auditor."""
    env = os.environ.get
    p.add_argument("--trust-root", type=Path, default=env("HASHLIST_TRUST_ROOT", "trust.toml"))
    p.add_argument("--json", action="store_true", help="one JSON object per result")
    if offline:
        return
    p.add_argument("--hub", default=env("HASHLIST_HUB", "127.0.0.1:7443"), help="host:port")
    p.add_argument("--ca", type=Path, default=env("HASHLIST_CA", "certs-dev/ca.pem"))
    p.add_argument("--cert", type=Path, default=env("HASHLIST_CERT", "certs-dev/auditor.pem"))
    p.add_argument("--key", type=Path, default=env("HASHLIST_KEY", "certs-dev/auditor.key"))


def client_from(args: argparse.Namespace) -> HubClient:
    return HubClient(args.hub, ClientTLS(args.ca, args.cert, args.key))


def followed_trust(args: argparse.Namespace, hub: HubClient) -> TrustRoot:
    """``--trust-root``, moved along every rotation the hub serves (verified in order)."""
    trust, _ = walk(load_trust_root(args.trust_root), hub.trust_root, now=int(time.time()))
    return trust


def history(hub: HubClient, trust: TrustRoot, list_id: str) -> tuple[bytes, Iterator[bytes]]:
    """The hub's newest signed note and a stream of every leaf up to its size."""
    note = hub.checkpoint(list_id)
    size = verify_checkpoint(note, trust, trust.origin(list_id)).checkpoint.size
    return note, (leaf for _, batch in hub.leaves(list_id, 0, size) for leaf in batch)
