"""Test support: a throwaway PKI and an in-process hub over real mTLS on port 0."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hashlist.client import ClientTLS, HubClient
from hashlist.clock import Clock
from hashlist.devpki import DevCA, write_dev_pki
from hashlist.identity import Role
from hashlist.note import COSIGNATURE_V1, ED25519, Signer
from hashlist.retry import Backoff
from hashlist.trustroot import TrustRoot
from node.config import NodeConfig
from node.store import SqliteNodeStore
from node.sync import Syncer
from server.config import HubConfig
from server.serve import RunningHub, running_hub
from witness.config import WitnessConfig

HUB = "hub.example"


def make_pki(folder: Path) -> Path:
    """Dev PKI in ``folder``, plus certificates the hub must not accept."""
    ca = write_dev_pki(folder)
    extra = {
        "stranger": DevCA("some other CA").issue(Role.OPERATOR, "operator"),  # foreign CA
        "wizard": ca.issue("wizard", "merlin"),  # our CA, but no hashlist role
    }
    for name, issued in extra.items():
        (folder / f"{name}.pem").write_bytes(issued.cert_pem)
        (folder / f"{name}.key").write_bytes(issued.key_pem)
    return folder


def hub_config(folder: Path, pki: Path, **overrides: object) -> tuple[HubConfig, TrustRoot]:
    folder.mkdir(parents=True, exist_ok=True)
    log_key = Signer.generate(f"{HUB}/log", ED25519)
    ts_key = Signer.generate(f"{HUB}/timestamp", COSIGNATURE_V1)
    (folder / "log.key").write_text(str(log_key))
    (folder / "ts.key").write_text(str(ts_key))
    fields: dict[str, object] = {
        "name": HUB,
        "database": folder / "hub.db",
        "log_key": folder / "log.key",
        "timestamp_key": folder / "ts.key",
        "tls_cert": pki / "hub.pem",
        "tls_key": pki / "hub.key",
        "client_ca": pki / "ca.pem",
        "listen": "127.0.0.1:0",
        "grace_seconds": 0.5,
    }
    fields.update(overrides)
    config = HubConfig(**fields)  # type: ignore[arg-type]
    trust = TrustRoot(1, HUB, (log_key.verifier(),), ts_key.verifier())
    return config, trust


@contextmanager
def hub_running(config: HubConfig, clock: Clock | None = None) -> Iterator[RunningHub]:
    with running_hub(config, clock=clock) as running:
        yield running


def client(port: int, pki: Path, who: str, **kwargs: object) -> HubClient:
    tls = ClientTLS(pki / "ca.pem", pki / f"{who}.pem", pki / f"{who}.key")
    kwargs.setdefault("backoff", Backoff(base=0.05, cap=0.2, attempts=2))
    return HubClient(f"127.0.0.1:{port}", tls, timeout=10, **kwargs)  # type: ignore[arg-type]


@contextmanager
def node_syncer(
    folder: Path,
    pki: Path,
    port: int,
    trust: TrustRoot,
    clock: Clock,
    *,
    name: str = "facebook",
    lists: tuple[str, ...] = ("takeitdown",),
) -> Iterator[tuple[Syncer, SqliteNodeStore]]:
    """A node's real ``Syncer`` and SQLite replica following the hub on ``port``."""
    folder.mkdir(parents=True, exist_ok=True)
    config = NodeConfig(
        name=name, hub=f"127.0.0.1:{port}", trust_root=folder / "unused.toml", lists=lists,
        database=folder / f"{name}.db", tls_cert=pki / f"{name}.pem",
        tls_key=pki / f"{name}.key", ca=pki / "ca.pem",
    )  # fmt: skip
    hub = client(port, pki, name)
    store = SqliteNodeStore(config.database)
    try:
        yield Syncer(config, trust, store, hub, clock), store
    finally:
        hub.close()
        store.close()


def witness_config(folder: Path, pki: Path, signer: Signer, *trusts: TrustRoot) -> WitnessConfig:
    """A witness of the hubs of ``trusts``, cosigning with ``signer``, on port 0."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "witness.key").write_text(str(signer))
    logs = []
    for i, trust in enumerate(trusts):
        (folder / f"hub{i}.toml").write_text(trust.to_toml())
        logs.append(folder / f"hub{i}.toml")
    return WitnessConfig(
        key=folder / "witness.key", database=folder / "witness.db", logs=tuple(logs),
        tls_cert=pki / "witness.pem", tls_key=pki / "witness.key", listen="127.0.0.1:0",
        request_timeout_seconds=5,
    )  # fmt: skip


def platform_pki(out: Path) -> Path:
    """A platform's own CA (not the hub's) in ``out``: ``matcher.pem``/``.key`` for its
    node's Matcher, ``upload.pem``/``.key`` for an upload host, and ``stranger.pem``/
    ``.key`` from another CA. Returns ``out``."""
    out.mkdir(parents=True)
    ca, other = DevCA("a platform's upload fleet CA"), DevCA("someone else")
    (out / "ca.pem").write_bytes(ca.cert_pem)
    issued = {
        "matcher": ca.issue(Role.PARTNER, "matcher", server=True),
        "upload": ca.issue(Role.PARTNER, "upload-host-1"),
        "stranger": other.issue(Role.PARTNER, "upload-host-1"),
    }
    for name, pair in issued.items():
        (out / f"{name}.pem").write_bytes(pair.cert_pem)
        (out / f"{name}.key").write_bytes(pair.key_pem)
    return out
