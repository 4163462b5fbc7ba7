"""The node database's schema, as ordered migrations (applied by ``hashlist.sqlite.migrate``).

Never edit a released migration: add one. Version 1 is the schema of the
first release: the verified state per list, the replica, accepted trust
roots and evidence (version 1 nodes also kept their outbox here, created
lazily; it now has its own file, ``node.store.outbox``, which imports those
rows once). Version 2 records, per list, how the last contact with the hub
went (``contact``: empty when it answered, else ``unreachable: ...`` or
``refused: ...``) and since when. Version 3 keeps each listed video's frame
set (``video_frames``: one row per frame and video, so the videos a frame
belongs to, and a video's frames, are one index range away).
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
    # 2: how the last contact with the hub went, per list, for a truthful status.
    """
    ALTER TABLE lists ADD COLUMN contact TEXT NOT NULL DEFAULT '';
    ALTER TABLE lists ADD COLUMN contact_since INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: listed videos' frames, for near-matching videos.
    """
    CREATE TABLE video_frames(
        list_id TEXT NOT NULL, frame TEXT NOT NULL, signal TEXT NOT NULL,
        PRIMARY KEY (list_id, frame, signal)) WITHOUT ROWID;
    CREATE INDEX video_frames_by_signal ON video_frames(list_id, signal);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
