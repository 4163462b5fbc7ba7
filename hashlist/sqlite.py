"""SQLite plumbing every store shares: opening a file with the house pragmas, and migrations.

Each app's store owns its database file and its SQL; what they share is how
a file is opened (WAL, ``synchronous=FULL``, a busy timeout, errors wrapped as
``StorageError``) and how a schema moves forward (``migrate``).

Schema versions: ``migrations[i]`` takes a database from version ``i`` to
``i + 1``. The version is kept in a ``meta`` table under ``schema``. Each
migration commits together with its version bump, so a crash between two
migrations leaves a database at the earlier version, and the next open
carries on from there. A database newer than the code is refused, never
downgraded.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from hashlist.errors import StorageError

BUSY_TIMEOUT_SECONDS = 30.0
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024


def connect(path: Path, what: str, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), usable from any thread.

    ``readonly`` opens the file as it is (``mode=ro``): a missing file is an
    error rather than a new empty database, and no write can slip through.
    """
    try:
        if readonly:
            if not path.is_file():
                raise StorageError(f"{what} {path} does not exist")
            conn = sqlite3.connect(
                readonly_uri(path), uri=True, timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None, check_same_thread=False,
            )  # fmt: skip
            conn.execute("PRAGMA query_only=1")
            return conn
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        # After each checkpoint the write-ahead log is cut back to this size:
        # one burst of writes must not leave a file that never shrinks.
        conn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
    except sqlite3.Error as e:
        raise StorageError(f"cannot open {what} {path}: {e}") from e
    return conn


IN_CHUNK = 500  # values per query, well under SQLite's bound-parameter limit


def among(db: sqlite3.Connection, query: str, key: str, values: Sequence[str]) -> set[str]:
    """Those of ``values`` that ``query`` returns, asked in chunks.

    ``query`` selects one column, has one ``?`` for ``key`` and ``{marks}`` where
    the chunk's placeholders go, e.g. ``... WHERE list_id=? AND signal IN ({marks})``.
    """
    found: set[str] = set()
    for i in range(0, len(values), IN_CHUNK):
        chunk = values[i : i + IN_CHUNK]
        sql = query.format(marks=",".join("?" * len(chunk)))
        found.update(r[0] for r in db.execute(sql, (key, *chunk)))
    return found


def readonly_uri(path: Path) -> str:
    """A ``mode=ro`` URI for ``path``, quoted: a ``#`` or ``?`` in a name stays in the name."""
    return f"{path.resolve().as_uri()}?mode=ro"


@contextmanager
def transaction(
    db: sqlite3.Connection, what: str, commit: Callable[[], None] | None = None
) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``commit()`` (default: ``COMMIT``).

    Any exception, a failed ``COMMIT`` included, rolls everything back; a
    database failure is raised as ``StorageError`` naming ``what``, other
    exceptions as they are. ``commit``
    lets a caller commit under its own lock (the node's index observer).
    """
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as e:
        raise StorageError(f"{what}: {e}") from e
    try:
        yield db
        if commit is None:
            db.execute("COMMIT")
        else:
            commit()
    except sqlite3.Error as e:  # a COMMIT can fail too (a full disk): the transaction stays open
        _rollback(db)
        raise StorageError(f"{what}: {e}") from e
    except BaseException:
        _rollback(db)
        raise


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back on its own
            db.execute("ROLLBACK")


def schema_version(db: sqlite3.Connection) -> int:
    """The database's schema version: 0 for a new, empty file."""
    has_meta = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
    ).fetchone()
    row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() if has_meta else None
    return int(row[0]) if row else 0


def migrate(
    db: sqlite3.Connection, what: str, migrations: tuple[str, ...], upto: int | None = None
) -> int:
    """Bring ``db`` to version ``upto`` (default: the newest); returns the version reached.

    ``what`` names the database in errors. ``upto`` exists for tests that
    build a database as an earlier release left it.
    """
    target = len(migrations) if upto is None else upto
    current = schema_version(db)
    if current > len(migrations):
        raise StorageError(
            f"{what} has schema version {current}, newer than this hashlist's "
            f"{len(migrations)}: upgrade hashlist, or restore a backup"
        )
    for version in range(current, target):
        bump = (
            "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            f"INSERT INTO meta(key, value) VALUES('schema', '{version + 1}') "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value;"
        )
        try:
            # executescript first commits any open transaction; the script carries
            # its own BEGIN/COMMIT so that the migration and its bump are atomic.
            db.executescript(f"BEGIN IMMEDIATE;{migrations[version]};{bump}COMMIT;")
        except sqlite3.Error as e:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StorageError(f"{what}: migration to schema {version + 1} failed: {e}") from e
    return max(current, target)
