"""The hub's storage: the ``HubStore`` protocol, its SQLite implementation, the schema."""

from server.store.protocol import (
    CaseRecord,
    HubStore,
    ListRow,
    LogEntry,
    NewPublication,
    ReportCounts,
    SnapshotView,
)
from server.store.schema import MIGRATIONS, SCHEMA_VERSION
from server.store.sqlite import SqliteHubStore

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "CaseRecord",
    "HubStore",
    "ListRow",
    "LogEntry",
    "NewPublication",
    "ReportCounts",
    "SnapshotView",
    "SqliteHubStore",
]
