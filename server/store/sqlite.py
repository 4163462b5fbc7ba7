"""The hub's SQLite store: the one owner of the hub's database file.

One file holds every list's leaves (with their hashes, so the trees are
rebuilt at start without rehashing), every checkpoint signed by the log key,
the newest cosigned note, the current set with the version each signal was
listed in (for snapshots), grants, idempotency records, partners'
reports and verdicts, and victims' cases. Every SQL statement against that file is in this
module; the schema and its migrations are in ``server.store.schema``.

Invariants (the ``HubStore`` contract, ``server.store.protocol``):

* ``commit_publication`` writes every leaf of a publication, their
  checkpoints, the set changes, the new LtHash, the served note and the
  idempotency record in one transaction: a crash leaves either all of a
  publication or none of it.
* ``(list_id, idx)`` and ``(list_id, size)`` are primary keys, so the store
  itself refuses a second leaf or a second root for one size.
* A database failure is raised as ``StorageError``, after the transaction
  was rolled back.
* Writes go through one connection under a lock; reads use one connection per
  thread in WAL mode.
* No read transaction stays open while a stream waits on its client: a
  snapshot is read in pages, each in its own short transaction, all at the
  version pinned when it began (members removed since are kept in
  ``removed_members`` while a snapshot of an earlier version is pinned), and
  leaves are read one statement each. A reader that stops reading therefore
  holds back no WAL checkpoint.
"""

from __future__ import annotations

import heapq
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from hashlist.errors import StorageError
from hashlist.identity import Identity
from hashlist.sqlite import among, connect, migrate, transaction
from server.store.cases import CaseTables
from server.store.oversight import OversightTables
from server.store.protocol import ListRow, NewPublication
from server.store.reports import ReportTables
from server.store.schema import MIGRATIONS

_MEMBERS = "SELECT signal FROM members WHERE list_id=? AND signal IN ({marks})"
_RETRACTED = "SELECT signal FROM retracted WHERE list_id=? AND signal IN ({marks})"
_WHAT = "hub database"


class SqliteHubStore(ReportTables, CaseTables, OversightTables):
    def __init__(self, path: Path, *, snapshot_page: int = 10_000) -> None:
        self.path = path
        self.snapshot_page = snapshot_page  # members read per short transaction
        self._write = connect(path, _WHAT)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        # Per-thread read connections, with their threads: those of ended threads
        # (a timer's, say) are closed when the next one opens, so none leak.
        self._readers: list[tuple[threading.Thread, sqlite3.Connection]] = []
        # Snapshots being served, as (list id, size): the removed members they
        # still need are kept until they end. Pinned under the write lock (no
        # commit in between); released under this lock alone, reentrant because a
        # snapshot's generator may be finalized by the garbage collector anywhere.
        self._pinned: Counter[tuple[str, int]] = Counter()
        self._pin_lock = threading.RLock()
        migrate(self._write, f"{_WHAT} {path}", MIGRATIONS)
        with self._transaction() as db:  # no snapshot survives a restart
            db.execute("DELETE FROM removed_members")

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, _WHAT)
            self._local.conn = conn
            with self._write_lock:
                ended = [c for t, c in self._readers if not t.is_alive()]
                self._readers = [(t, c) for t, c in self._readers if t.is_alive()]
                self._readers.append((threading.current_thread(), conn))
            for old in ended:
                old.close()
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock, transaction(self._write, f"{_WHAT} {self.path}") as db:
            yield db

    def close(self) -> None:
        with self._write_lock:
            for _, conn in self._readers:
                conn.close()
            self._readers.clear()
        self._write.close()

    # --- lists and grants ---

    def create_list(self, row: ListRow, log_note: bytes) -> bool:
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM lists WHERE list_id=?", (row.list_id,)).fetchone():
                return False
            db.execute(
                "INSERT INTO lists VALUES(?,?,?,?,?,?)",
                (row.list_id, row.size, row.hashes, row.lthash, row.latest_note, row.cosigned_at),
            )
            db.execute("INSERT INTO checkpoints VALUES(?,?,?)", (row.list_id, 0, log_note))
            return True

    def lists(self) -> list[ListRow]:
        rows = self._reader().execute("SELECT * FROM lists ORDER BY list_id").fetchall()
        return [ListRow(*r) for r in rows]

    def get_list(self, list_id: str) -> ListRow | None:
        return _get_list(self._reader(), list_id)

    def set_grant(self, list_id: str, partner: str, granted: bool) -> bool:
        with self._transaction() as db:
            if granted:
                cur = db.execute("INSERT OR IGNORE INTO grants VALUES(?,?)", (list_id, partner))
            else:
                cur = db.execute(
                    "DELETE FROM grants WHERE list_id=? AND partner=?", (list_id, partner)
                )
            return cur.rowcount > 0

    def revoke(self, serial: str, at: int) -> bool:
        with self._transaction() as db:
            cur = db.execute("INSERT OR IGNORE INTO revoked VALUES(?,?)", (serial, at))
            return cur.rowcount == 1

    def revoked(self) -> set[str]:
        return {r[0] for r in self._reader().execute("SELECT serial FROM revoked")}

    def saw_certificate(self, who: Identity, at: int) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO certificates VALUES(?,?,?,?,?,?) ON CONFLICT(serial) "
                "DO UPDATE SET last_seen=excluded.last_seen",
                (who.serial, who.role.value, who.name, who.not_after, at, at),
            )

    def certificates(self) -> list[tuple[str, str, str, int, int]]:
        q = "SELECT serial, role, name, not_after, last_seen FROM certificates ORDER BY name"
        return self._reader().execute(q).fetchall()

    def set_progress(self, partner: str, list_id: str, version: int, at: int) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO progress VALUES(?,?,?,?)",
                       (partner, list_id, version, at))  # fmt: skip

    def progress(self) -> list[tuple[str, str, int, int]]:
        return self._reader().execute("SELECT * FROM progress ORDER BY partner").fetchall()

    def grants(self) -> list[tuple[str, str]]:
        q = "SELECT list_id, partner FROM grants ORDER BY partner, list_id"
        return self._reader().execute(q).fetchall()

    def partners(self, list_id: str) -> list[str]:
        q = "SELECT partner FROM grants WHERE list_id=? ORDER BY partner"
        return [r[0] for r in self._reader().execute(q, (list_id,))]

    # --- publishing ---

    def listed(self, list_id: str, signals: Sequence[str]) -> set[str]:
        return among(self._reader(), _MEMBERS, list_id, signals)

    def ever_listed(self, list_id: str, signals: Sequence[str]) -> set[str]:
        listed = self.listed(list_id, signals)
        others = [s for s in signals if s not in listed]
        return listed | among(self._reader(), _RETRACTED, list_id, others) if others else listed

    def publication(self, key: str) -> tuple[str, bytes, bytes] | None:
        q = "SELECT list_id, response, request_digest FROM publications WHERE idempotency_key=?"
        r = self._reader().execute(q, (key,)).fetchone()
        return (r[0], bytes(r[1]), bytes(r[2] or b"")) if r else None

    def commit_publication(self, new: NewPublication) -> None:
        with self._transaction() as db:
            size = db.execute("SELECT size FROM lists WHERE list_id=?", (new.list_id,)).fetchone()
            versions = [e.version for e in new.entries]
            if (
                not versions
                or size is None
                or versions != list(range(size[0] + 1, size[0] + 1 + len(versions)))
            ):
                raise StorageError(f"list {new.list_id} moved on during publication")
            for e in new.entries:
                db.execute(
                    "INSERT INTO leaves VALUES(?,?,?,?)",
                    (new.list_id, e.version - 1, e.leaf_hash, e.leaf),
                )
                db.execute(
                    "INSERT INTO checkpoints VALUES(?,?,?)", (new.list_id, e.version, e.log_note)
                )
                db.execute(
                    "INSERT INTO versions VALUES(?,?,?,?,?)",
                    (new.list_id, e.version, new.cosigned_at, len(e.additions), len(e.removals)),
                )
                db.executemany(
                    "INSERT INTO removed_members SELECT list_id, signal, version, ? "
                    "FROM members WHERE list_id=? AND signal=?",
                    ((e.version, new.list_id, s) for s in e.removals),
                )
                db.executemany(
                    "DELETE FROM members WHERE list_id=? AND signal=?",
                    ((new.list_id, s) for s in e.removals),
                )
                db.executemany(
                    "INSERT INTO members VALUES(?,?,?)",
                    ((new.list_id, s, e.version) for s in e.additions),
                )
                db.executemany(
                    "INSERT OR IGNORE INTO retracted VALUES(?,?)",
                    ((new.list_id, s) for s in e.removals),
                )
                db.executemany(
                    "INSERT OR IGNORE INTO video_frames VALUES(?,?,?)",
                    ((new.list_id, v.signal, v.text) for v in e.videos),
                )
            db.execute(
                "UPDATE lists SET size=?, hashes=?, lthash=?, latest_note=?, cosigned_at=? "
                "WHERE list_id=?",
                (versions[-1], new.hashes, new.lthash, new.cosigned_note, new.cosigned_at,
                 new.list_id),
            )  # fmt: skip
            if new.idempotency_key:
                db.execute(
                    "INSERT INTO publications VALUES(?,?,?,?)",
                    (new.idempotency_key, new.list_id, new.response, new.request_digest),
                )
            # Removed members only a pinned snapshot of an earlier version needs.
            with self._pin_lock:
                pins = list(self._pinned)
            oldest = min((n for (lid, n) in pins if lid == new.list_id), default=None)
            db.execute(
                "DELETE FROM removed_members WHERE list_id=? AND removed<=?",
                (new.list_id, versions[-1] if oldest is None else oldest),
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

    def log_note(self, list_id: str, size: int) -> bytes:
        q = "SELECT note FROM checkpoints WHERE list_id=? AND size=?"
        r = self._reader().execute(q, (list_id, size)).fetchone()
        if r is None:
            raise StorageError(f"no log-signed checkpoint of size {size} for {list_id}")
        return bytes(r[0])

    def leaves(self, list_id: str, start: int, end: int) -> Iterator[bytes]:
        # One statement per leaf: a cursor left open between yields would be a
        # read transaction held for as long as the client takes to read.
        for idx in range(start, end):
            leaf = self._leaf(list_id, idx)
            if leaf is None:
                return  # leaves are contiguous: none from here on
            yield leaf

    def _leaf(self, list_id: str, idx: int) -> bytes | None:
        q = "SELECT data FROM leaves WHERE list_id=? AND idx=?"
        r = self._reader().execute(q, (list_id, idx)).fetchone()
        return None if r is None else bytes(r[0])

    @contextmanager
    def snapshot(self, list_id: str) -> Iterator[_Snapshot]:
        """The list pinned at its current version: every read inside sees that version."""
        reader = self._reader()  # first: opening one takes the write lock
        with self._write_lock:  # no publication commits between reading and pinning
            row = _get_list(reader, list_id)
            if row is None:
                raise StorageError(f"list {list_id} vanished during a snapshot")
            pin = (list_id, row.size)
            with self._pin_lock:
                self._pinned[pin] += 1
        try:
            yield _Snapshot(self, row)
        finally:
            with self._pin_lock:
                self._pinned -= Counter([pin])

    def _videos(self, list_id: str, signals: Sequence[str]) -> dict[str, bytes]:
        db = self._reader()
        out: dict[str, bytes] = {}
        for at in range(0, len(signals), 500):
            part = signals[at : at + 500]
            out |= {s: bytes(f) for s, f in db.execute(
                f"SELECT signal, frames FROM video_frames WHERE list_id=? "  # noqa: S608
                f"AND signal IN ({','.join('?' * len(part))})", (list_id, *part))}  # fmt: skip
        return out

    def _members_page(self, row: ListRow, after: str, limit: int) -> list[tuple[str, int]]:
        """Up to ``limit`` members of ``row``'s version ordered by signal, after ``after``."""
        db = self._reader()
        db.execute("BEGIN")  # both queries see one state, for as long as this page takes
        try:
            current = db.execute(
                "SELECT signal, version FROM members WHERE list_id=? AND signal>? "
                "AND version<=? ORDER BY signal LIMIT ?",
                (row.list_id, after, row.size, limit),
            ).fetchall()
            gone = db.execute(
                "SELECT signal, added FROM removed_members WHERE list_id=? AND signal>? "
                "AND added<=? AND removed>? ORDER BY signal LIMIT ?",
                (row.list_id, after, row.size, row.size, limit),
            ).fetchall()
        finally:
            db.execute("COMMIT")
        return list(heapq.merge(current, gone))[:limit]


class _Snapshot:
    """A ``SnapshotView`` of a pinned version, read page by page."""

    def __init__(self, store: SqliteHubStore, row: ListRow) -> None:
        self._store = store
        self.row = row

    def leaf(self, index: int) -> bytes:
        leaf = self._store._leaf(self.row.list_id, index) if index < self.row.size else None
        if leaf is None:
            raise StorageError(f"leaf {index} of {self.row.list_id} is missing")
        return leaf

    def members(self) -> Iterator[tuple[str, int]]:
        after = ""
        while True:
            limit = self._store.snapshot_page
            page = self._store._members_page(self.row, after, limit)
            yield from page
            if len(page) < limit:
                return
            after = page[-1][0]

    def videos(self, signals: Sequence[str]) -> dict[str, bytes]:
        return self._store._videos(self.row.list_id, signals)


def _get_list(db: sqlite3.Connection, list_id: str) -> ListRow | None:
    r = db.execute("SELECT * FROM lists WHERE list_id=?", (list_id,)).fetchone()
    return ListRow(*r) if r else None
