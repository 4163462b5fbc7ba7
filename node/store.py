"""The node's SQLite replica and verified state.

Tables: ``lists`` (one row per followed list: the ``TrustedState`` fields,
the largest size seen signed, the current alarm, whether it is halted),
``members`` (the replica: signal and the version it was listed in) and
``evidence`` (signed notes that prove misbehaviour, kept forever).

A ``ReplicaObserver`` (the matcher's index) is told about each committed
step while it holds its exclusive lock across the ``COMMIT``, so a search
never sees the replica and the index disagree.

Invariant: the ``members`` rows of a list and its ``lists`` row change only
inside one ``BEGIN IMMEDIATE`` transaction (``step`` or ``replace``) that is
committed after the core verified the whole step. A crash at any point leaves
the previous verified state and its rows, whose LtHash16 equals the stored
digest (``rows_digest`` recomputes it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hashlist.delta import Delta
from hashlist.errors import DeltaConflictError, StorageError
from hashlist.lthash import LtHash16
from hashlist.merkle import CompactRange
from hashlist.signals import SignalText
from hashlist.verify import TrustedState

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lists(
    list_id TEXT PRIMARY KEY,
    size INTEGER NOT NULL, root BLOB NOT NULL, compact_range BLOB NOT NULL,
    lthash BLOB NOT NULL, state_digest BLOB NOT NULL, cosigned_at INTEGER NOT NULL,
    checkpoint_note BLOB NOT NULL,
    seen_size INTEGER NOT NULL DEFAULT 0,
    alarm TEXT NOT NULL DEFAULT '',
    halted INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS members(
    list_id TEXT NOT NULL, signal TEXT NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (list_id, signal)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trust_roots(version INTEGER PRIMARY KEY, note BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS evidence(
    id INTEGER PRIMARY KEY, list_id TEXT NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL,
    trusted_note BLOB NOT NULL, conflicting_note BLOB NOT NULL, seen_at INTEGER NOT NULL);
"""
_IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ListRecord:
    state: TrustedState
    seen_size: int
    alarm: str
    halted: bool
    updated_at: int


class ReplicaObserver(Protocol):
    def exclusive(self) -> AbstractContextManager[object]:
        """Held across the commit and the ``applied`` call."""
        ...

    def applied(
        self, list_id: str, changes: Sequence[tuple[list[str], list[str]]], *, replaced: bool
    ) -> None:
        """A committed step: per delta, in order, the perceptual signals it added and
        removed; or, if ``replaced``, the list's rows were replaced wholesale."""
        ...


NEAR_PREFIXES = ("pdq:", "phash:")
"""Signals the observer hears about: the kinds with a near-match index."""


class NodeStore:
    def __init__(self, path: Path, observer: ReplicaObserver | None = None) -> None:
        self.observer = observer
        try:
            self.db = sqlite3.connect(
                path, timeout=30, isolation_level=None, check_same_thread=False
            )
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
        except sqlite3.Error as e:
            raise StorageError(f"cannot open node database {path}: {e}") from e
        row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            self.db.execute(
                "INSERT OR IGNORE INTO meta VALUES('schema', ?)", (str(SCHEMA_VERSION),)
            )
        elif row[0] != str(SCHEMA_VERSION):
            raise StorageError(f"{path} has schema {row[0]}, this node needs {SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    def add_trust_roots(self, signed: Sequence[tuple[int, bytes]]) -> None:
        """Keep trust-root versions accepted by ``hashlist.rotation.walk``, atomically."""
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO trust_roots VALUES (?, ?)", signed)

    def trust_root(self, version: int) -> bytes | None:
        """A signed trust-root version accepted earlier (re-verified on every start)."""
        row = self.db.execute("SELECT note FROM trust_roots WHERE version=?", (version,)).fetchone()
        return bytes(row[0]) if row else None

    def record(self, list_id: str) -> ListRecord:
        r = self.db.execute(
            "SELECT size, root, compact_range, lthash, state_digest, cosigned_at, checkpoint_note, "
            "seen_size, alarm, halted, updated_at FROM lists WHERE list_id=?",
            (list_id,),
        ).fetchone()
        if r is None:
            return ListRecord(TrustedState.empty(list_id), 0, "", False, 0)
        state = TrustedState(
            list_id, r[0], r[1], CompactRange.from_bytes(r[2]), r[3], r[4], r[5], r[6]
        )
        return ListRecord(state, r[7], r[8], bool(r[9]), r[10])

    def state(self, list_id: str) -> TrustedState:
        return self.record(list_id).state

    @contextmanager
    def step(self, list_id: str, now: int) -> Iterator[Step]:
        """A transaction that applies verified deltas and commits the new state."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            step = Step(self.db, list_id, now)
            yield step
            if not step.committed:
                raise StorageError("step ended without a verified state to commit")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        if self.observer is None:
            self.db.execute("COMMIT")
            return
        with self.observer.exclusive():
            self.db.execute("COMMIT")
            self.observer.applied(list_id, step.changes, replaced=step.replaced)

    @contextmanager
    def replace(self, list_id: str, now: int) -> Iterator[Step]:
        """Like ``step``, but starting from an empty replica (snapshot bootstrap)."""
        with self.step(list_id, now) as step:
            self.db.execute("DELETE FROM members WHERE list_id=?", (list_id,))
            step.replaced = True
            yield step

    def set_seen(self, list_id: str, size: int) -> None:
        self._ensure(list_id)
        self.db.execute(
            "UPDATE lists SET seen_size=max(seen_size, ?) WHERE list_id=?", (size, list_id)
        )

    def set_alarm(self, list_id: str, alarm: str) -> None:
        self._ensure(list_id)
        self.db.execute("UPDATE lists SET alarm=? WHERE list_id=?", (alarm, list_id))

    def halt(
        self, list_id: str, *, kind: str, message: str, trusted: bytes, conflicting: bytes, now: int
    ) -> None:
        """Keep evidence and stop applying this list, in one transaction."""
        self._ensure(list_id)
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute(
            "INSERT INTO evidence(list_id, kind, message, trusted_note, conflicting_note, seen_at) "
            "VALUES(?,?,?,?,?,?)",
            (list_id, kind, message, trusted, conflicting, now),
        )
        self.db.execute(
            "UPDATE lists SET halted=1, alarm=? WHERE list_id=?", (f"{kind}: {message}", list_id)
        )
        self.db.execute("COMMIT")

    def evidence(self, list_id: str) -> list[tuple[str, str, bytes, bytes]]:
        q = (
            "SELECT kind, message, trusted_note, conflicting_note FROM evidence "
            "WHERE list_id=? ORDER BY id"
        )
        return [(r[0], r[1], r[2], r[3]) for r in self.db.execute(q, (list_id,))]

    def count(self, list_id: str) -> int:
        return int(
            self.db.execute("SELECT count(*) FROM members WHERE list_id=?", (list_id,)).fetchone()[
                0
            ]
        )

    def contains(self, list_id: str, signal: str) -> bool:
        q = "SELECT 1 FROM members WHERE list_id=? AND signal=?"
        return self.db.execute(q, (list_id, signal)).fetchone() is not None

    def signals(self, list_id: str) -> Iterator[str]:
        """Every signal of the list's replica, streamed."""
        q = "SELECT signal FROM members WHERE list_id=?"
        return (r[0] for r in self.db.execute(q, (list_id,)))

    def rows_digest(self, list_id: str) -> bytes:
        """The LtHash16 digest recomputed from the replica's rows."""
        return LtHash16.of(self.signals(list_id)).digest()

    def _ensure(self, list_id: str) -> None:
        if self.db.execute("SELECT 1 FROM lists WHERE list_id=?", (list_id,)).fetchone() is None:
            _write_state(self.db, TrustedState.empty(list_id), 0)


class Step:
    """The open transaction of one verified step (see ``NodeStore.step``)."""

    def __init__(self, db: sqlite3.Connection, list_id: str, now: int) -> None:
        self.db = db
        self.list_id = list_id
        self.now = now
        self.committed = False
        self.replaced = False
        self.changes: list[tuple[list[str], list[str]]] = []

    def listed(self, signals: Sequence[SignalText]) -> set[SignalText]:
        found: set[SignalText] = set()
        for i in range(0, len(signals), _IN_CHUNK):
            chunk = signals[i : i + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            q = f"SELECT signal FROM members WHERE list_id=? AND signal IN ({marks})"  # noqa: S608
            found.update(SignalText(r[0]) for r in self.db.execute(q, (self.list_id, *chunk)))
        return found

    def apply(self, delta: Delta) -> None:
        try:
            self.db.executemany(
                "INSERT INTO members VALUES(?,?,?)",
                ((self.list_id, s, delta.version) for s in delta.additions),
            )
        except sqlite3.IntegrityError as e:
            raise DeltaConflictError(
                f"version {delta.version} adds a hash the replica holds"
            ) from e
        before = self.db.total_changes
        self.db.executemany(
            "DELETE FROM members WHERE list_id=? AND signal=?",
            ((self.list_id, s) for s in delta.removals),
        )
        if self.db.total_changes - before != len(delta.removals):
            raise DeltaConflictError(f"version {delta.version} removes a hash the replica lacks")
        self.changes.append((
            [s for s in delta.additions if s.startswith(NEAR_PREFIXES)],
            [s for s in delta.removals if s.startswith(NEAR_PREFIXES)],
        ))  # fmt: skip

    def insert(self, signals: Sequence[SignalText], versions: Sequence[int]) -> None:
        self.db.executemany(
            "INSERT INTO members VALUES(?,?,?)",
            zip((self.list_id,) * len(signals), signals, versions, strict=True),
        )

    def commit(self, state: TrustedState) -> None:
        _write_state(self.db, state, self.now)
        self.db.execute("UPDATE lists SET alarm='' WHERE list_id=?", (state.list_id,))
        self.committed = True


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
