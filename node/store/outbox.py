"""The outbox rows in the node's database (the ``OutboxStore`` of ``node.store.protocol``).

Its own connection, so an upload check that records a match never waits on
the sync loop's Python-level state; SQLite's own lock still orders the
writes. The schema is migrated by whichever of this and ``SqliteNodeStore``
opens the file first: both run ``hashlist.sqlite.migrate`` with the same
migrations, which is idempotent.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from hashlist.sqlite import connect, migrate, transaction
from node.store.schema import MIGRATIONS

_WHAT = "node database"


class SqliteOutboxStore:
    def __init__(self, path: Path) -> None:
        self._db = connect(path, _WHAT)
        self._lock = threading.Lock()
        with self._lock:
            migrate(self._db, f"{_WHAT} {path}", MIGRATIONS)

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
        with self._lock, transaction(self._db, f"{_WHAT}: outbox rows not added") as db:
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
        with self._lock:
            self._db.executemany(
                f"UPDATE outbox SET {column}=? WHERE seq=?",  # noqa: S608 - fixed column names
                ((value, s) for s in seqs),
            )

    def backlog(self) -> int:
        with self._lock:
            q = "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND refused IS NULL"
            return int(self._db.execute(q).fetchone()[0])
