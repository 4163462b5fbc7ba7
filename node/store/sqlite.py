"""The node's SQLite replica and verified state: the one owner of the node's database file.

Tables (schema and migrations in ``node.store.schema``): ``lists`` (one row
per followed list: the ``TrustedState`` fields, the largest size seen
signed, the current alarm, whether it is halted), ``members`` (the replica:
signal and the version it was listed in), ``trust_roots`` (accepted
rotations) and ``evidence`` (signed notes that prove misbehaviour, kept
forever). The outbox has its own file (``node.store.outbox``).

``SqliteReplicaReader`` answers read-only questions on per-thread
connections; opened with ``readonly=True`` it refuses a missing file instead
of creating one. ``SqliteNodeStore`` is the sync loop's writer.

Invariant: the ``members`` rows of a list and its ``lists`` row change only
inside one ``BEGIN IMMEDIATE`` transaction (``step`` or ``replace``) that is
committed after the core verified the whole step. A crash at any point leaves
the previous verified state and its rows, whose LtHash16 equals the stored
digest. A ``ReplicaObserver`` (the matcher's index) is told about each
committed step while it holds its exclusive lock across the ``COMMIT``, so a
search never sees the replica and the index disagree.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from hashlist.delta import Delta
from hashlist.errors import CorruptReplicaError, StorageError
from hashlist.merkle import CompactRange
from hashlist.signals import SignalText
from hashlist.sqlite import among, connect, migrate, schema_version, transaction
from hashlist.verify import TrustedState
from hashlist.vpdq import FrameSet
from node.store import videos
from node.store.protocol import (
    FRAME_PREFIX,
    NEAR_PREFIXES,
    Evidence,
    ListRecord,
    ReplicaObserver,
)
from node.store.schema import MIGRATIONS, SCHEMA_VERSION

_MEMBERS = "SELECT signal FROM members WHERE list_id=? AND signal IN ({marks})"
_WHAT = "node database"
_RECORD = (
    "SELECT size, root, compact_range, lthash, state_digest, cosigned_at, checkpoint_note, "
    "seen_size, alarm, halted, updated_at, contact, contact_since FROM lists WHERE list_id=?"
)


class SqliteReplicaReader:
    """Read-only questions about the replica, from any thread."""

    def __init__(self, path: Path, *, readonly: bool = True) -> None:
        self.path = path
        self._readonly = readonly
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        version = schema_version(self._conn())  # fail now, not at the first question
        if readonly and version != SCHEMA_VERSION:
            raise StorageError(
                f"{_WHAT} {path} is still being created (the node is starting)" if version == 0
                else f"{_WHAT} {path} has schema {version}, this hashlist reads {SCHEMA_VERSION}:"
                " the node is migrating it, or has not run since hashlist was upgraded"
            )  # fmt: skip

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, _WHAT, readonly=self._readonly)
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> sqlite3.Cursor:
        try:
            return self._conn().execute(sql, args)
        except sqlite3.Error as e:  # e.g. a file that is not (yet) a node database
            raise StorageError(f"{_WHAT} {self.path}: {e}") from e

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()

    def lists(self) -> list[str]:
        return [r[0] for r in self._query("SELECT list_id FROM lists ORDER BY list_id")]

    def record(self, list_id: str) -> ListRecord:
        r = self._query(_RECORD, (list_id,)).fetchone()
        if r is None:
            return ListRecord(TrustedState.empty(list_id), 0, "", False, 0)
        state = TrustedState(
            list_id, r[0], r[1], CompactRange.from_bytes(r[2]), r[3], r[4], r[5], r[6]
        )
        return ListRecord(state, r[7], r[8], bool(r[9]), r[10], r[11], r[12])

    def state(self, list_id: str) -> TrustedState:
        return self.record(list_id).state

    def count(self, list_id: str) -> int:
        q = "SELECT count(*) FROM members WHERE list_id=?"
        return int(self._query(q, (list_id,)).fetchone()[0])

    def listed(self, list_id: str, signals: Sequence[SignalText]) -> set[SignalText]:
        try:
            found = among(self._conn(), _MEMBERS, list_id, signals)
        except sqlite3.Error as e:
            raise StorageError(f"{_WHAT} {self.path}: {e}") from e
        return {SignalText(s) for s in found}

    def version_of(self, list_id: str, signal: str) -> int | None:
        q = "SELECT version FROM members WHERE list_id=? AND signal=?"
        row = self._query(q, (list_id, signal)).fetchone()
        return int(row[0]) if row else None

    def signals(self, list_id: str) -> Iterator[str]:
        q = "SELECT signal FROM members WHERE list_id=?"
        return (r[0] for r in self._query(q, (list_id,)))

    def digests(self, list_id: str, kind: str, chunk: int) -> Iterator[list[str]]:
        prefix = f"{kind}:"
        cursor = self._query(
            "SELECT substr(signal, ?) FROM members WHERE list_id=? AND signal >= ? AND signal < ?",
            (len(prefix) + 1, list_id, prefix, f"{kind};"),  # ';' sorts right after ':'
        )
        while rows := cursor.fetchmany(chunk):
            yield [r[0] for r in rows]

    def video_frames(self, list_id: str, chunk: int) -> Iterator[list[str]]:
        return videos.distinct_frames(self._conn(), list_id, chunk)

    def videos_with(self, list_id: str, frames: Sequence[str]) -> list[tuple[str, str]]:
        return videos.videos_with(self._conn(), list_id, frames)

    def video_codes(self, list_id: str, signal: str) -> list[str]:
        return videos.codes(self._conn(), list_id, signal)

    @contextmanager
    def consistent(self, list_id: str) -> Iterator[tuple[TrustedState, Iterator[str]]]:
        conn = self._conn()
        conn.execute("BEGIN")  # one read transaction: the rows of the state read first
        try:
            yield self.state(list_id), self.signals(list_id)
        finally:
            conn.execute("COMMIT")

    def trust_root(self, version: int) -> bytes | None:
        q = "SELECT note FROM trust_roots WHERE version=?"
        row = self._query(q, (version,)).fetchone()
        return bytes(row[0]) if row else None

    def evidence(self, list_id: str) -> list[Evidence]:
        q = (
            "SELECT kind, message, trusted_note, conflicting_note FROM evidence "
            "WHERE list_id=? ORDER BY id"
        )
        return [Evidence(r[0], r[1], bytes(r[2]), bytes(r[3]))
                for r in self._query(q, (list_id,))]  # fmt: skip


class SqliteNodeStore(SqliteReplicaReader):
    """The sync loop's writer: one connection, for its transactions and its own reads."""

    def __init__(self, path: Path, observer: ReplicaObserver | None = None) -> None:
        self.observer = observer
        self.db = connect(path, _WHAT)
        migrate(self.db, f"{_WHAT} {path}", MIGRATIONS)
        super().__init__(path, readonly=False)

    def _conn(self) -> sqlite3.Connection:
        return self.db

    def close(self) -> None:
        self.db.close()

    def add_trust_roots(self, signed: Sequence[tuple[int, bytes]]) -> None:
        """Keep trust-root versions accepted by ``hashlist.rotation.walk``, atomically."""
        with self._transaction():
            self.db.executemany("INSERT OR IGNORE INTO trust_roots VALUES (?, ?)", signed)

    def _transaction(
        self, commit: Callable[[], None] | None = None
    ) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.db, f"{_WHAT} {self.path}", commit)

    @contextmanager
    def step(self, list_id: str, now: int) -> Iterator[Step]:
        step = Step(self.db, list_id, now)

        def commit() -> None:
            if self.observer is None:
                self.db.execute("COMMIT")
                return
            with self.observer.exclusive():
                self.db.execute("COMMIT")
                self.observer.applied(list_id, step.changes, replaced=step.replaced)

        with self._transaction(commit):
            yield step
            if not step.committed:
                raise StorageError("step ended without a verified state to commit")

    @contextmanager
    def replace(self, list_id: str, now: int) -> Iterator[Step]:
        with self.step(list_id, now) as step:
            self.db.execute("DELETE FROM members WHERE list_id=?", (list_id,))
            videos.clear(self.db, list_id)
            step.replaced = True
            yield step

    def set_seen(self, list_id: str, size: int) -> None:
        with self._transaction() as db:
            _ensure(db, list_id)
            db.execute(
                "UPDATE lists SET seen_size=max(seen_size, ?) WHERE list_id=?", (size, list_id)
            )

    def set_alarm(self, list_id: str, alarm: str) -> None:
        with self._transaction() as db:
            _ensure(db, list_id)
            db.execute("UPDATE lists SET alarm=? WHERE list_id=?", (alarm, list_id))

    def set_contact(self, list_id: str, contact: str, now: int) -> None:
        kind = contact.partition(":")[0]
        with self._transaction() as db:
            _ensure(db, list_id)
            # contact_since keeps the start of a run of the same kind of problem.
            db.execute(
                "UPDATE lists SET contact_since = CASE WHEN ? = '' THEN 0 "
                "WHEN contact != '' AND substr(contact, 1, length(?)) = ? THEN contact_since "
                "ELSE ? END, contact = ? WHERE list_id=?",
                (contact, kind, kind, now, contact, list_id),
            )

    def halt(
        self, list_id: str, *, kind: str, message: str, trusted: bytes, conflicting: bytes, now: int
    ) -> None:
        with self._transaction() as db:
            _ensure(db, list_id)
            db.execute(
                "INSERT INTO evidence(list_id, kind, message, trusted_note, conflicting_note, "
                "seen_at) VALUES(?,?,?,?,?,?)",
                (list_id, kind, message, trusted, conflicting, now),
            )
            db.execute(
                "UPDATE lists SET halted=1, alarm=? WHERE list_id=?",
                (f"{kind}: {message}", list_id),
            )


class Step:
    """The open transaction of one verified step (see ``SqliteNodeStore.step``)."""

    def __init__(self, db: sqlite3.Connection, list_id: str, now: int) -> None:
        self.db = db
        self.list_id = list_id
        self.now = now
        self.committed = False
        self.replaced = False
        self.changes: list[tuple[list[str], list[str]]] = []

    def apply(self, delta: Delta) -> None:
        before = self.db.total_changes
        self.db.executemany(
            "INSERT OR IGNORE INTO members VALUES(?,?,?)",
            ((self.list_id, s, delta.version) for s in delta.additions),
        )
        self.db.executemany(
            "DELETE FROM members WHERE list_id=? AND signal=?",
            ((self.list_id, s) for s in delta.removals),
        )
        if self.db.total_changes - before != delta.size:
            # The verifier found the delta applies to the verified state: the rows
            # must have been changed behind the node's back.
            raise CorruptReplicaError(
                f"the replica's rows of {self.list_id} disagree with its verified state "
                f"at version {delta.version}: the database was changed outside the node"
            )
        gone = videos.remove(self.db, self.list_id, [s for s in delta.removals
                                                     if s.startswith("vpdq:")])  # fmt: skip
        new = videos.add(self.db, self.list_id, delta.videos)
        self.changes.append((
            [s for s in delta.additions if s.startswith(NEAR_PREFIXES)]
            + [FRAME_PREFIX + f for f in new],
            [s for s in delta.removals if s.startswith(NEAR_PREFIXES)]
            + [FRAME_PREFIX + f for f in gone],
        ))  # fmt: skip

    def insert(
        self, signals: Sequence[SignalText], versions: Sequence[int],
        frame_sets: Sequence[FrameSet] = (),
    ) -> None:  # fmt: skip
        if len(signals) != len(versions):
            raise StorageError(f"{len(signals)} signals but {len(versions)} versions to insert")
        self.db.executemany(
            "INSERT INTO members VALUES(?,?,?)",
            zip(itertools.repeat(self.list_id), signals, versions, strict=False),
        )
        videos.add(self.db, self.list_id, frame_sets)

    def commit(self, state: TrustedState) -> None:
        _write_state(self.db, state, self.now)
        # A verified step clears the list's alarm, except a corruption alarm: only
        # replacing the rows (a repair) clears that one.
        self.db.execute(
            "UPDATE lists SET alarm='' WHERE list_id=? AND (? OR alarm NOT LIKE ?)",
            (state.list_id, self.replaced, f"{CorruptReplicaError.__name__}%"),
        )
        self.committed = True


def _ensure(db: sqlite3.Connection, list_id: str) -> None:
    if db.execute("SELECT 1 FROM lists WHERE list_id=?", (list_id,)).fetchone() is None:
        _write_state(db, TrustedState.empty(list_id), 0)


def _write_state(db: sqlite3.Connection, s: TrustedState, now: int) -> None:
    db.execute(
        "INSERT INTO lists(list_id, size, root, compact_range, lthash, state_digest, cosigned_at, "
        "checkpoint_note, seen_size, updated_at) VALUES(?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT(list_id) DO UPDATE SET size=excluded.size, root=excluded.root, "
        "compact_range=excluded.compact_range, lthash=excluded.lthash, "
        "state_digest=excluded.state_digest, cosigned_at=excluded.cosigned_at, "
        "checkpoint_note=excluded.checkpoint_note, seen_size=max(seen_size, excluded.size), "
        "updated_at=excluded.updated_at",
        (
            s.list_id, s.size, s.root, s.compact_range.to_bytes(), s.lthash, s.state_digest,
            s.cosigned_at, s.checkpoint_note, s.size, now,
        ),
    )  # fmt: skip
