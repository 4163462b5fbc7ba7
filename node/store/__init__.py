"""The node's storage: protocols, their SQLite implementations, the schema."""

from node.store.outbox import SqliteOutboxStore
from node.store.protocol import (
    FRAME_PREFIX,
    NEAR_PREFIXES,
    Evidence,
    ListRecord,
    OutboxStore,
    ReplicaObserver,
    ReplicaReader,
    ReplicaStep,
    ReplicaStore,
)
from node.store.schema import MIGRATIONS, SCHEMA_VERSION
from node.store.sqlite import SqliteNodeStore, SqliteReplicaReader, Step

__all__ = [
    "FRAME_PREFIX",
    "MIGRATIONS",
    "NEAR_PREFIXES",
    "SCHEMA_VERSION",
    "Evidence",
    "ListRecord",
    "OutboxStore",
    "ReplicaObserver",
    "ReplicaReader",
    "ReplicaStep",
    "ReplicaStore",
    "SqliteNodeStore",
    "SqliteOutboxStore",
    "SqliteReplicaReader",
    "Step",
]
