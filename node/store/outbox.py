"""The outbox of reports and verdicts (the ``OutboxStore`` of ``node.store.protocol``).

Its own SQLite file, beside the replica (``NodeConfig.outbox_database``): an
upload check that files a report never waits for the replica's write lock,
however large the step the sync loop is committing. It is also a different
lifecycle (rows are delivered, then kept for the record) from the replica,
which is rebuilt from the hub at will.

Nodes of the first release kept the outbox inside the replica's file. When
a new outbox file is created beside such a replica (``legacy``), its rows and
the content-key secret are imported once, in one transaction, so keyed
content ids and pending reports carry over; the old table is left alone.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from hashlist.errors import StorageError
from hashlist.sqlite import connect, migrate, readonly_uri, transaction

_WHAT = "node outbox database"
# Ordered migrations (``hashlist.sqlite.migrate``); never edit a released one.
MIGRATIONS: tuple[str, ...] = (
    # 1: rows for the hub; one report per content and listed hash (a keyed hash of
    # both; NULL when the platform gave no content id).
    """
    CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE outbox(
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('report', 'verdict')),
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        delivered_at INTEGER,
        refused TEXT,
        match_key TEXT);
    CREATE INDEX outbox_pending ON outbox(seq) WHERE delivered_at IS NULL AND refused IS NULL;
    CREATE UNIQUE INDEX outbox_match ON outbox(match_key) WHERE match_key IS NOT NULL;
    """,
)


class SqliteOutboxStore:
    def __init__(self, path: Path, *, legacy: Path | None = None) -> None:
        self._db = connect(path, _WHAT)
        self._lock = threading.Lock()
        self._what = f"{_WHAT} {path}"
        with self._lock:
            migrate(self._db, self._what, MIGRATIONS)
            if legacy is not None and legacy.is_file():
                self._import(legacy)

    def _import(self, legacy: Path) -> None:
        """The outbox rows and secret a first-release node kept in its replica, once."""
        done = self._db.execute("SELECT 1 FROM meta WHERE key='legacy_imported'").fetchone()
        if done:
            return
        try:
            self._db.execute("ATTACH DATABASE ? AS legacy", (readonly_uri(legacy),))
        except sqlite3.Error as e:
            raise StorageError(f"{self._what}: cannot read {legacy} to import its outbox") from e
        try:
            tables = {r[0] for r in self._db.execute("SELECT name FROM legacy.sqlite_master")}
            with transaction(self._db, f"{self._what}: importing the outbox of {legacy}") as db:
                if "outbox" in tables:
                    db.execute(
                        "INSERT OR IGNORE INTO outbox(id, kind, body, created_at, delivered_at, "
                        "refused) SELECT id, kind, body, created_at, delivered_at, refused "
                        "FROM legacy.outbox ORDER BY seq"
                    )
                if "meta" in tables:
                    db.execute(
                        "INSERT OR IGNORE INTO meta SELECT key, value FROM legacy.meta "
                        "WHERE key='content_key_secret'"
                    )
                db.execute("INSERT INTO meta VALUES('legacy_imported', '1')")
        finally:
            self._db.execute("DETACH DATABASE legacy")

    def close(self) -> None:
        self._db.close()

    def secret(self, fresh: bytes) -> bytes:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES('content_key_secret', ?)", (fresh.hex(),)
            )
            row = self._db.execute("SELECT value FROM meta WHERE key='content_key_secret'")
            return bytes.fromhex(row.fetchone()[0])

    def add(self, rows: Sequence[tuple[str, str, str, int, str | None]]) -> None:
        with self._lock, transaction(self._db, f"{self._what}: outbox rows not added") as db:
            db.executemany(
                "INSERT INTO outbox(id, kind, body, created_at, match_key) VALUES(?,?,?,?,?)", rows
            )

    def report_for(self, match_key: str) -> str | None:
        with self._lock:
            q = "SELECT id FROM outbox WHERE match_key=?"
            row = self._db.execute(q, (match_key,)).fetchone()
        return str(row[0]) if row else None

    def has_report(self, report_id: str) -> bool:
        with self._lock:
            q = "SELECT 1 FROM outbox WHERE id=? AND kind='report'"
            return self._db.execute(q, (report_id,)).fetchone() is not None

    def pending(self, limit: int) -> list[tuple[int, str, str]]:
        with self._lock:
            return [
                (int(seq), kind, body)
                for seq, kind, body in self._db.execute(
                    "SELECT seq, kind, body FROM outbox "
                    "WHERE delivered_at IS NULL AND refused IS NULL ORDER BY seq LIMIT ?",
                    (limit,),
                )
            ]

    def mark(self, seqs: Sequence[int], *, now: int, refused: str = "") -> None:
        column = "refused" if refused else "delivered_at"
        value: str | int = refused or now
        with self._lock, transaction(self._db, f"{self._what}: outbox rows not marked") as db:
            db.executemany(  # one transaction: one fsync, not one per row
                f"UPDATE outbox SET {column}=? WHERE seq=?",  # noqa: S608 - fixed column names
                ((value, s) for s in seqs),
            )

    def backlog(self) -> int:
        with self._lock:
            q = "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND refused IS NULL"
            return int(self._db.execute(q).fetchone()[0])
