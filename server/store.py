"""The hub's SQLite store.

One file holds every list's leaves (with their hashes, so the tree is rebuilt
at start without rehashing), every checkpoint signed by the log key, the
newest cosigned note, the current set with the version each signal was
listed in (for snapshots), grants and idempotency records.

Invariants:

* ``commit_publication`` writes a leaf, its checkpoint, the set changes, the
  new LtHash and the idempotency record in one transaction: a crash leaves
  either all of a publication or none of it.
* ``(list_id, idx)`` and ``(list_id, size)`` are primary keys, so the store
  itself refuses a second leaf or a second root for one size.
* Writes go through one connection under a lock; reads use one connection per
  thread in WAL mode, so a long snapshot read sees one consistent version
  while publishing goes on.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hashlist.errors import StorageError
from hashlist.signals import SignalText

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lists(
    list_id TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    hashes INTEGER NOT NULL,
    lthash BLOB NOT NULL,
    latest_note BLOB NOT NULL,
    cosigned_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS leaves(
    list_id TEXT NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (list_id, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints(
    list_id TEXT NOT NULL, size INTEGER NOT NULL, note BLOB NOT NULL,
    PRIMARY KEY (list_id, size)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members(
    list_id TEXT NOT NULL, signal TEXT NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (list_id, signal)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS grants(
    list_id TEXT NOT NULL, partner TEXT NOT NULL, PRIMARY KEY (list_id, partner)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS publications(
    idempotency_key TEXT PRIMARY KEY, list_id TEXT NOT NULL, response BLOB NOT NULL);
"""
_IN_CHUNK = 500  # well under SQLite's bound-parameter limit


@dataclass(frozen=True, slots=True)
class ListRow:
    list_id: str
    size: int
    hashes: int
    lthash: bytes
    latest_note: bytes
    cosigned_at: int


@dataclass(frozen=True, slots=True)
class NewLeaf:
    """Everything one publication writes."""

    list_id: str
    version: int
    leaf: bytes
    leaf_hash: bytes
    additions: Sequence[SignalText]
    removals: Sequence[SignalText]
    hashes: int
    lthash: bytes
    log_note: bytes  # signed by the log key only: kept forever
    cosigned_note: bytes  # the same with the timestamp cosignature: served
    cosigned_at: int
    idempotency_key: str
    response: bytes


def connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error as e:
        raise StorageError(f"cannot open hub database {path}: {e}") from e
    return conn


class HubStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._write = connect(path)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._write.executescript(_SCHEMA)
        row = self._write.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            self._write.execute("INSERT INTO meta VALUES('schema', ?)", (str(SCHEMA_VERSION),))
        elif row[0] != str(SCHEMA_VERSION):
            raise StorageError(f"{path} has schema {row[0]}, this hub needs {SCHEMA_VERSION}")

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            self._write.execute("BEGIN IMMEDIATE")
            try:
                yield self._write
            except BaseException:
                self._write.execute("ROLLBACK")
                raise
            self._write.execute("COMMIT")

    @contextmanager
    def read_snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: everything read inside sees one version."""
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    # --- lists and grants ---

    def create_list(self, row: ListRow, log_note: bytes) -> bool:
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM lists WHERE list_id=?", (row.list_id,)).fetchone():
                return False
            db.execute("INSERT INTO lists VALUES(?,?,?,?,?,?)", _row_values(row))
            db.execute("INSERT INTO checkpoints VALUES(?,?,?)", (row.list_id, 0, log_note))
            return True

    def lists(self) -> list[ListRow]:
        rows = self._reader().execute("SELECT * FROM lists ORDER BY list_id").fetchall()
        return [ListRow(*r) for r in rows]

    def get_list(self, list_id: str) -> ListRow | None:
        r = self._reader().execute("SELECT * FROM lists WHERE list_id=?", (list_id,)).fetchone()
        return ListRow(*r) if r else None

    def set_grant(self, list_id: str, partner: str, granted: bool) -> bool:
        with self._transaction() as db:
            if granted:
                cur = db.execute("INSERT OR IGNORE INTO grants VALUES(?,?)", (list_id, partner))
            else:
                cur = db.execute(
                    "DELETE FROM grants WHERE list_id=? AND partner=?", (list_id, partner)
                )
            return cur.rowcount > 0

    def is_granted(self, list_id: str, partner: str) -> bool:
        q = "SELECT 1 FROM grants WHERE list_id=? AND partner=?"
        return self._reader().execute(q, (list_id, partner)).fetchone() is not None

    def partners(self, list_id: str) -> list[str]:
        q = "SELECT partner FROM grants WHERE list_id=? ORDER BY partner"
        return [r[0] for r in self._reader().execute(q, (list_id,))]

    # --- publishing ---

    def listed(self, list_id: str, signals: Sequence[str]) -> set[str]:
        db = self._reader()
        found: set[str] = set()
        for i in range(0, len(signals), _IN_CHUNK):
            chunk = signals[i : i + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            q = f"SELECT signal FROM members WHERE list_id=? AND signal IN ({marks})"  # noqa: S608
            found.update(r[0] for r in db.execute(q, (list_id, *chunk)))
        return found

    def publication(self, key: str) -> tuple[str, bytes] | None:
        q = "SELECT list_id, response FROM publications WHERE idempotency_key=?"
        r = self._reader().execute(q, (key,)).fetchone()
        return (r[0], r[1]) if r else None

    def commit_publication(self, new: NewLeaf) -> None:
        with self._transaction() as db:
            size = db.execute("SELECT size FROM lists WHERE list_id=?", (new.list_id,)).fetchone()
            if size is None or size[0] != new.version - 1:
                raise StorageError(f"list {new.list_id} moved on during publication")
            db.execute(
                "INSERT INTO leaves VALUES(?,?,?,?)",
                (new.list_id, new.version - 1, new.leaf_hash, new.leaf),
            )
            db.execute(
                "INSERT INTO checkpoints VALUES(?,?,?)", (new.list_id, new.version, new.log_note)
            )
            db.executemany(
                "INSERT INTO members VALUES(?,?,?)",
                ((new.list_id, s, new.version) for s in new.additions),
            )
            db.executemany(
                "DELETE FROM members WHERE list_id=? AND signal=?",
                ((new.list_id, s) for s in new.removals),
            )
            db.execute(
                "UPDATE lists SET size=?, hashes=?, lthash=?, latest_note=?, cosigned_at=? "
                "WHERE list_id=?",
                (
                    new.version,
                    new.hashes,
                    new.lthash,
                    new.cosigned_note,
                    new.cosigned_at,
                    new.list_id,
                ),
            )
            if new.idempotency_key:
                db.execute(
                    "INSERT INTO publications VALUES(?,?,?)",
                    (new.idempotency_key, new.list_id, new.response),
                )

    def update_cosigned(self, list_id: str, size: int, note: bytes, cosigned_at: int) -> bool:
        """Store a re-cosigned note if the list is still at ``size``."""
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE lists SET latest_note=?, cosigned_at=? WHERE list_id=? AND size=?",
                (note, cosigned_at, list_id, size),
            )
            return cur.rowcount == 1

    # --- reading the log ---

    def leaf_hashes(self, list_id: str) -> Iterator[bytes]:
        q = "SELECT hash FROM leaves WHERE list_id=? ORDER BY idx"
        for (h,) in self._reader().execute(q, (list_id,)):
            yield bytes(h)

    def leaves(self, list_id: str, start: int, end: int) -> Iterator[bytes]:
        q = "SELECT data FROM leaves WHERE list_id=? AND idx>=? AND idx<? ORDER BY idx"
        for (data,) in self._reader().execute(q, (list_id, start, end)):
            yield data

    def leaf(self, list_id: str, index: int, db: sqlite3.Connection | None = None) -> bytes:
        q = "SELECT data FROM leaves WHERE list_id=? AND idx=?"
        r = (db or self._reader()).execute(q, (list_id, index)).fetchone()
        if r is None:
            raise StorageError(f"leaf {index} of {list_id} is missing")
        return bytes(r[0])

    def members(self, db: sqlite3.Connection, list_id: str) -> Iterator[tuple[str, int]]:
        q = "SELECT signal, version FROM members WHERE list_id=? ORDER BY signal"
        yield from db.execute(q, (list_id,))

    def close(self) -> None:
        self._write.close()


def _row_values(row: ListRow) -> tuple[object, ...]:
    return (row.list_id, row.size, row.hashes, row.lthash, row.latest_note, row.cosigned_at)
