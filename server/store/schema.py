"""The hub database's schema, as ordered migrations.

``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``; the
version is kept in ``meta`` under ``schema`` (where version 1 already put
it); ``hashlist.sqlite.migrate`` applies them.

Never edit a released migration: add one. Version 1 is the schema of the
first release; version 2 brings the report tables, which version 1 hubs
created lazily from the reports module (hence ``IF NOT EXISTS``); version 3
remembers retracted signals (a report must name a hash that is or was listed);
version 4 the digest of the request each idempotency key was used for;
version 5 the members removed while a snapshot of an earlier version is
being served (so a snapshot reads in short transactions, see the store),
and indexes by age for the retention of reports and verdicts; version 6
revoked certificates; version 7 the certificates seen and the progress
partners' nodes report; version 8 victims' cases, their hashes and each list's
policy for them; version 9 what the operator's console shows: the audit trail of
operator actions, each version's time and counts (earlier versions counted from
their leaves, their time unknown: 0), when a case was closed, dismissed review
items, and reports by the time they were matched.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: lists, the log, the current set, grants, idempotency records.
    """
    CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE lists(
        list_id TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        hashes INTEGER NOT NULL,
        lthash BLOB NOT NULL,
        latest_note BLOB NOT NULL,
        cosigned_at INTEGER NOT NULL
    );
    CREATE TABLE leaves(
        list_id TEXT NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, data BLOB NOT NULL,
        PRIMARY KEY (list_id, idx)) WITHOUT ROWID;
    CREATE TABLE checkpoints(
        list_id TEXT NOT NULL, size INTEGER NOT NULL, note BLOB NOT NULL,
        PRIMARY KEY (list_id, size)) WITHOUT ROWID;
    CREATE TABLE members(
        list_id TEXT NOT NULL, signal TEXT NOT NULL, version INTEGER NOT NULL,
        PRIMARY KEY (list_id, signal)) WITHOUT ROWID;
    CREATE TABLE grants(
        list_id TEXT NOT NULL, partner TEXT NOT NULL, PRIMARY KEY (list_id, partner)) WITHOUT ROWID;
    CREATE TABLE publications(
        idempotency_key TEXT PRIMARY KEY, list_id TEXT NOT NULL, response BLOB NOT NULL);
    """,
    # 2: match reports and verdicts from partners.
    """
    CREATE TABLE IF NOT EXISTS reports(
        report_id TEXT PRIMARY KEY, partner TEXT NOT NULL, list_id TEXT NOT NULL,
        signal TEXT NOT NULL, distance INTEGER NOT NULL, version INTEGER NOT NULL,
        content_key TEXT NOT NULL, matched_at INTEGER NOT NULL, received_at INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS reports_by_list ON reports(list_id, signal);
    CREATE TABLE IF NOT EXISTS verdicts(
        verdict_id TEXT PRIMARY KEY, report_id TEXT NOT NULL, partner TEXT NOT NULL,
        verdict TEXT NOT NULL, decided_at INTEGER NOT NULL, received_at INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS verdicts_by_report ON verdicts(report_id, partner);
    """,
    # 3: every signal retracted from a list: with the current set, what a report
    # may name (a hash that is or was on its list). Retractions made before this
    # version are not known here.
    """
    CREATE TABLE retracted(
        list_id TEXT NOT NULL, signal TEXT NOT NULL, PRIMARY KEY (list_id, signal)) WITHOUT ROWID;
    """,
    # 4: what each idempotency key was used for, so a key reused for another
    # request is refused (records made before this version have none).
    """
    ALTER TABLE publications ADD COLUMN request_digest BLOB;
    """,
    # 5: members removed at version ``removed`` that had been listed at ``added``:
    # a snapshot of a version in [added, removed) still lists them. Kept only
    # while a snapshot of such a version is being served.
    """
    CREATE TABLE removed_members(
        list_id TEXT NOT NULL, signal TEXT NOT NULL, added INTEGER NOT NULL,
        removed INTEGER NOT NULL, PRIMARY KEY (list_id, signal, removed)) WITHOUT ROWID;
    CREATE INDEX removed_members_by_version ON removed_members(list_id, removed);
    CREATE INDEX reports_by_age ON reports(received_at);
    CREATE INDEX verdicts_by_age ON verdicts(received_at);
    """,
    # 6: revoked certificates, by serial (lowercase hex).
    """
    CREATE TABLE revoked(serial TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL) WITHOUT ROWID;
    """,
    # 7: certificates the hub has seen (the partner registry), and the version of
    # each list each partner's node last reported verified.
    """
    CREATE TABLE certificates(
        serial TEXT PRIMARY KEY, role TEXT NOT NULL, name TEXT NOT NULL,
        not_after INTEGER NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE progress(
        partner TEXT NOT NULL, list_id TEXT NOT NULL, version INTEGER NOT NULL,
        at INTEGER NOT NULL, PRIMARY KEY (partner, list_id)) WITHOUT ROWID;
    """,
    # 8: cases opened through the intake: the PIN only as a slow hash, the lockout
    # state, the version that listed the case and the one that retracted its hashes
    # (``retracting`` while a withdrawal's retraction is not yet published), and
    # the signals that cases (not the operator) put on each list: only those are
    # ever retracted by a withdrawal. No address, agent or other trace of the person.
    """
    CREATE TABLE case_policies(
        list_id TEXT PRIMARY KEY, mode TEXT NOT NULL, batch_seconds INTEGER NOT NULL,
        max_signals INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE cases(
        number TEXT PRIMARY KEY, list_id TEXT NOT NULL, pin_hash BLOB NOT NULL,
        state TEXT NOT NULL, opened_at INTEGER NOT NULL, signals INTEGER NOT NULL,
        version INTEGER NOT NULL DEFAULT 0, withdrawn_version INTEGER NOT NULL DEFAULT 0,
        retracting INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,
        locks INTEGER NOT NULL DEFAULT 0, locked_until INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE INDEX cases_by_state ON cases(list_id, state, number);
    CREATE TABLE case_signals(
        number TEXT NOT NULL, signal TEXT NOT NULL, PRIMARY KEY (number, signal)) WITHOUT ROWID;
    CREATE INDEX case_signals_by_signal ON case_signals(signal, number);
    CREATE TABLE case_listed(
        list_id TEXT NOT NULL, signal TEXT NOT NULL, PRIMARY KEY (list_id, signal)) WITHOUT ROWID;
    """,
    # 9: the operator's oversight (see the module docstring).
    """
    CREATE TABLE actions(
        id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, who TEXT NOT NULL,
        action TEXT NOT NULL, target TEXT NOT NULL, reason TEXT NOT NULL,
        outcome TEXT NOT NULL);
    CREATE TABLE versions(
        list_id TEXT NOT NULL, version INTEGER NOT NULL, published_at INTEGER NOT NULL,
        added INTEGER NOT NULL, removed INTEGER NOT NULL,
        PRIMARY KEY (list_id, version)) WITHOUT ROWID;
    INSERT INTO versions
        SELECT list_id, idx + 1, 0,
            (length(CAST(data AS TEXT))
             - length(replace(CAST(data AS TEXT), char(10) || 'add ', ''))) / 5,
            (length(CAST(data AS TEXT))
             - length(replace(CAST(data AS TEXT), char(10) || 'remove ', ''))) / 8
        FROM leaves;
    ALTER TABLE cases ADD COLUMN closed_at INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE review_dismissals(
        list_id TEXT NOT NULL, signal TEXT NOT NULL, at INTEGER NOT NULL,
        PRIMARY KEY (list_id, signal)) WITHOUT ROWID;
    CREATE INDEX reports_by_match_time ON reports(list_id, matched_at);
    """,
    # 10: the frame set of every video ever listed (vpdq signal -> canonical text),
    # for snapshots; a signal names its frames by digest, so rows never change.
    """
    CREATE TABLE video_frames(
        list_id TEXT NOT NULL, signal TEXT NOT NULL, frames BLOB NOT NULL,
        PRIMARY KEY (list_id, signal)) WITHOUT ROWID;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
