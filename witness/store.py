"""The witness's SQLite file: the last checkpoint cosigned per origin, and evidence.

Invariant: the row of an origin only ever moves to a checkpoint that
``hashlist.witness.add_checkpoint`` accepted against that very row, because
the read, the decision and the write happen in one ``BEGIN IMMEDIATE``
transaction (``decide``). A crash before the commit leaves the old row and
no cosignature was returned; after it, the row is durable before the answer.

Refused requests whose proof failed (an inconsistent history) are kept whole
in ``evidence``, with the state they were refused against.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from hashlist.errors import BadProofError
from hashlist.sqlite import connect, migrate
from hashlist.witness_protocol import Cosigned, Witnessed, cosigned_note

# Ordered migrations (``hashlist.sqlite.migrate``); never edit a released one.
# Version 1 databases were made before versions were recorded (hence IF NOT EXISTS).
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS witnessed(
        origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL,
        note BLOB NOT NULL, updated_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS evidence(
        id INTEGER PRIMARY KEY, origin TEXT NOT NULL, reason TEXT NOT NULL,
        request BLOB NOT NULL, last_note BLOB NOT NULL, seen_at INTEGER NOT NULL);
    """,
)


class WitnessStore:
    def __init__(self, path: Path) -> None:
        self._db = connect(path, "witness database")
        migrate(self._db, f"witness database {path}", MIGRATIONS)
        self._lock = threading.Lock()  # one connection, one decision at a time

    def close(self) -> None:
        self._db.close()

    def decide(
        self,
        origin: str,
        request: bytes,
        decide: Callable[[Witnessed | None], Cosigned],
        now: int,
    ) -> Cosigned:
        """Run ``decide`` on the origin's row and store what it accepts, atomically."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT size, root, note FROM witnessed WHERE origin=?", (origin,)
                ).fetchone()
                last = Witnessed(row[0], bytes(row[1])) if row else None
                try:
                    result = decide(last)
                except BadProofError as e:
                    self._db.execute(
                        "INSERT INTO evidence(origin, reason, request, last_note, seen_at) "
                        "VALUES (?,?,?,?,?)",
                        (origin, str(e), request, row[2] if row else b"", now),
                    )
                    self._db.execute("COMMIT")
                    raise
                cp = result.checkpoint
                note = cosigned_note(request.partition(b"\n\n")[2], [result.signature_line])
                self._db.execute(
                    "INSERT INTO witnessed(origin, size, root, note, updated_at) "
                    "VALUES (?,?,?,?,?) ON CONFLICT(origin) DO UPDATE SET "
                    "size=excluded.size, root=excluded.root, note=excluded.note, "
                    "updated_at=excluded.updated_at",
                    (cp.origin, cp.size, cp.root, note, now),
                )
                self._db.execute("COMMIT")
                return result
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def latest(self, origin: str) -> bytes | None:
        """The newest checkpoint note cosigned for ``origin``, with this witness's line."""
        with self._lock:
            row = self._db.execute(
                "SELECT note FROM witnessed WHERE origin=?", (origin,)
            ).fetchone()
        return bytes(row[0]) if row else None

    def evidence(self) -> list[tuple[str, str, bytes]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT origin, reason, request FROM evidence ORDER BY id"
            ).fetchall()
        return [(o, r, bytes(q)) for o, r, q in rows]
