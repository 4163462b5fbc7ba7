"""The node database's schema, as ordered migrations (applied by ``hashlist.sqlite.migrate``).

Never edit a released migration: add one. Version 1 is the schema of the
first release: the verified state per list, the replica, accepted trust
roots and evidence. Version 2 brings the outbox of match reports, which
version 1 nodes created lazily from the outbox module (hence ``IF NOT
EXISTS``). Version 3 records, per list, how the last contact with the hub
went (``contact``: empty when it answered, else ``unreachable: ...`` or
``refused: ...``) and since when. Version 4 keys each report by the content
and the listed hash it is about, so checking the same content twice files
one report.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: verified state, replica, trust roots, evidence.
    """
    CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE lists(
        list_id TEXT PRIMARY KEY,
        size INTEGER NOT NULL, root BLOB NOT NULL, compact_range BLOB NOT NULL,
        lthash BLOB NOT NULL, state_digest BLOB NOT NULL, cosigned_at INTEGER NOT NULL,
        checkpoint_note BLOB NOT NULL,
        seen_size INTEGER NOT NULL DEFAULT 0,
        alarm TEXT NOT NULL DEFAULT '',
        halted INTEGER NOT NULL DEFAULT 0,
        updated_at INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE members(
        list_id TEXT NOT NULL, signal TEXT NOT NULL, version INTEGER NOT NULL,
        PRIMARY KEY (list_id, signal)) WITHOUT ROWID;
    CREATE TABLE trust_roots(version INTEGER PRIMARY KEY, note BLOB NOT NULL);
    CREATE TABLE evidence(
        id INTEGER PRIMARY KEY, list_id TEXT NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL,
        trusted_note BLOB NOT NULL, conflicting_note BLOB NOT NULL, seen_at INTEGER NOT NULL);
    """,
    # 2: the outbox of reports and verdicts for the hub.
    """
    CREATE TABLE IF NOT EXISTS outbox(
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('report', 'verdict')),
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        delivered_at INTEGER,
        refused TEXT);
    CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(seq)
        WHERE delivered_at IS NULL AND refused IS NULL;
    """,
    # 3: how the last contact with the hub went, per list, for a truthful status.
    """
    ALTER TABLE lists ADD COLUMN contact TEXT NOT NULL DEFAULT '';
    ALTER TABLE lists ADD COLUMN contact_since INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: one report per content and listed hash (a keyed hash of both; NULL when the
    # platform gave no content id).
    """
    ALTER TABLE outbox ADD COLUMN match_key TEXT;
    CREATE UNIQUE INDEX outbox_match ON outbox(match_key) WHERE match_key IS NOT NULL;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
