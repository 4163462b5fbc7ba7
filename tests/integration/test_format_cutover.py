"""A node following a hub across the cut-over to log format version 2.

The hub's history was written in v1 (one leaf over 65,535 bytes, as hubs
before version 2 could write); the upgraded hub appends v2 leaves. A node
bootstraps from a snapshot whose last leaf is v1, follows a v1 leaf, then the
v2 leaves of a publication too large for one leaf.
"""

from __future__ import annotations

from pathlib import Path

from hashlist.client import ClientTLS, HubClient
from hashlist.clock import FixedClock
from hashlist.delta import MAX_ENTRY_BYTES, decode_delta
from hashlist.retry import Backoff
from node.config import NodeConfig
from node.store import SqliteNodeStore
from node.sync import Syncer
from tests.conftest import Keys
from tests.legacy import append_v1
from tests.simulator import MaliciousHub, serving

LIST = "takeitdown"
NOW = 1_800_000_000
MAX_AGE = 600


def test_a_node_follows_a_v1_history_then_v2_leaves(tmp_path: Path, pki: Path, keys: Keys) -> None:
    clock = FixedClock(NOW)
    hub = MaliciousHub(keys, LIST, clock, MAX_AGE)  # honest: no attack is set
    append_v1(hub.log, [f"md5:{i:032x}" for i in range(20)])
    with serving(hub, pki) as port:
        config = NodeConfig(
            name="facebook", hub=f"127.0.0.1:{port}", trust_root=tmp_path / "unused.toml",
            lists=(LIST,), database=tmp_path / "node.db", tls_cert=pki / "facebook.pem",
            tls_key=pki / "facebook.key", ca=pki / "ca.pem",
        )  # fmt: skip
        client = HubClient(config.hub, ClientTLS(config.ca, config.tls_cert, config.tls_key),
                           timeout=10, backoff=Backoff(0.01, 0.05, 2))  # fmt: skip
        store = SqliteNodeStore(config.database)
        syncer = Syncer(config, keys.trust(max_age=MAX_AGE), store, client, clock)
        try:
            assert syncer.sync(LIST)  # a snapshot whose last leaf is v1
            big = append_v1(hub.log, [f"sha256:{i:064x}" for i in range(2000)])
            assert len(big) > MAX_ENTRY_BYTES
            assert syncer.sync(LIST)  # the v1 leaf itself
            hub.publish([f"sha256:{i:064x}" for i in range(2000, 5000)], ["md5:" + "0" * 32])
            versions = [decode_delta(leaf).format_version for leaf in hub.log.leaves]
            assert versions[:2] == [1, 1]
            assert set(versions[2:]) == {2}
            assert len(versions) >= 6
            assert syncer.sync(LIST)  # the publication's v2 leaves, in one step
            state = store.state(LIST)
            assert (state.size, state.state_digest) == (hub.log.size, hub.log.lthash.digest())
            assert store.count(LIST) == len(hub.log.members) == 20 + 5000 - 1
        finally:
            client.close()
            store.close()
