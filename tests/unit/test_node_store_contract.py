"""The node's store contracts: ``ReplicaStore`` (with ``ReplicaReader``) and ``OutboxStore``.

Every implementation passes this one suite; today the SQLite ones.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path

import pytest

from hashlist.delta import Delta
from hashlist.errors import StorageError
from hashlist.signals import SignalText
from hashlist.sqlite import migrate, schema_version
from hashlist.verify import TrustedState
from node.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    OutboxStore,
    ReplicaReader,
    ReplicaStore,
    SqliteNodeStore,
    SqliteOutboxStore,
    SqliteReplicaReader,
)

LIST = "takeitdown"
MD5 = [SignalText(f"md5:{i:032x}") for i in range(6)]
PDQ = [SignalText(f"pdq:{i:064x}") for i in range(3)]


class Recorder:
    """A ``ReplicaObserver`` that remembers what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[list[str], list[str]]], bool]] = []

    def exclusive(self) -> AbstractContextManager[object]:
        return nullcontext()

    def applied(
        self, list_id: str, changes: Sequence[tuple[list[str], list[str]]], *, replaced: bool
    ) -> None:
        self.calls.append((list_id, [(list(a), list(r)) for a, r in changes], replaced))


Stores = tuple[Callable[[Recorder | None], ReplicaStore], Callable[[], ReplicaReader]]
IMPLEMENTATIONS: dict[str, Callable[[Path], Stores]] = {
    "sqlite": lambda folder: (
        lambda observer: SqliteNodeStore(folder / "node.db", observer),
        lambda: SqliteReplicaReader(folder / "node.db"),
    ),
}
OUTBOXES: dict[str, Callable[[Path], OutboxStore]] = {
    "sqlite": lambda folder: SqliteOutboxStore(folder / "node.outbox.db"),
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Stores:
    return IMPLEMENTATIONS[request.param](tmp_path)


@pytest.fixture
def observer() -> Recorder:
    return Recorder()


@pytest.fixture
def store(stores: Stores, observer: Recorder) -> Iterator[ReplicaStore]:
    s = stores[0](observer)
    yield s
    s.close()


def _state(size: int, tag: int = 0) -> TrustedState:
    empty = TrustedState.empty(LIST)
    return replace(empty, size=size, root=bytes([size]) * 32, lthash=bytes([tag]) * 2048,
                   state_digest=bytes([tag]) * 32, cosigned_at=100 + size,
                   checkpoint_note=f"note {size}".encode())  # fmt: skip


def _delta(version: int, adds: Sequence[str], removes: Sequence[str] = ()) -> Delta:
    return Delta(LIST, version, b"\0" * 32, tuple(map(SignalText, adds)),
                 tuple(map(SignalText, removes)))  # fmt: skip


def test_an_unknown_list_reads_as_empty_and_healthy(store: ReplicaStore) -> None:
    r = store.record(LIST)
    assert (r.state, r.seen_size, r.alarm, r.halted) == (TrustedState.empty(LIST), 0, "", False)
    assert store.count(LIST) == 0
    assert store.lists() == []


def test_a_step_applies_deltas_and_commits_the_state(
    store: ReplicaStore, observer: Recorder
) -> None:
    with store.step(LIST, now=7) as tx:
        tx.apply(_delta(1, [*MD5[:3], PDQ[0]]))
        tx.apply(_delta(2, [PDQ[1]], [MD5[0], PDQ[0]]))
        tx.commit(_state(2))
    assert store.listed(LIST, [MD5[1], MD5[0]]) == {MD5[1]}
    assert store.state(LIST) == _state(2)
    assert store.record(LIST).updated_at == 7
    assert store.count(LIST) == 3
    assert store.version_of(LIST, MD5[1]) == 1
    assert store.version_of(LIST, PDQ[1]) == 2
    assert store.version_of(LIST, MD5[0]) is None
    assert sorted(store.signals(LIST)) == sorted([MD5[1], MD5[2], PDQ[1]])
    assert [d for chunk in store.digests(LIST, "pdq", 10) for d in chunk] == [PDQ[1][4:]]
    # The observer heard each delta's perceptual changes, in order, once committed.
    assert observer.calls == [(LIST, [([PDQ[0]], []), ([PDQ[1]], [PDQ[0]])], False)]


def test_a_step_that_fails_or_does_not_commit_changes_nothing(
    store: ReplicaStore, observer: Recorder
) -> None:
    with store.step(LIST, now=1) as tx:
        tx.apply(_delta(1, MD5[:2]))
        tx.commit(_state(1))
    before = store.record(LIST)

    def attempt(*deltas: Delta, commit: bool = True) -> None:
        with store.step(LIST, now=2) as tx:
            for delta in deltas:
                tx.apply(delta)
            if commit:
                tx.commit(_state(9))

    # The verifier decides that a delta applies; rows that disagree mean the
    # database was changed behind the node's back, and nothing is written.
    with pytest.raises(StorageError, match="disagree"):
        attempt(_delta(2, [MD5[3]]), _delta(3, [MD5[0]]))  # MD5[0] is already listed
    with pytest.raises(StorageError, match="disagree"):
        attempt(_delta(2, [], [MD5[5]]))  # MD5[5] is not listed
    with pytest.raises(StorageError):
        attempt(_delta(2, [MD5[4]]), commit=False)
    assert store.record(LIST) == before
    assert sorted(store.signals(LIST)) == MD5[:2]
    assert len(observer.calls) == 1


def test_replace_starts_from_an_empty_replica(store: ReplicaStore, observer: Recorder) -> None:
    with store.step(LIST, now=1) as tx:
        tx.apply(_delta(1, MD5[:3]))
        tx.commit(_state(1))
    with store.replace(LIST, now=2) as tx:
        tx.insert([MD5[4], PDQ[2]], [3, 5])
        tx.commit(_state(5))
    assert sorted(store.signals(LIST)) == [MD5[4], PDQ[2]]
    assert store.version_of(LIST, PDQ[2]) == 5
    assert observer.calls[-1] == (LIST, [], True)


def test_seen_size_only_grows_and_an_alarm_lasts_until_the_next_step(store: ReplicaStore) -> None:
    store.set_seen(LIST, 4)
    store.set_seen(LIST, 2)
    store.set_alarm(LIST, "BadProofError: the root does not match")
    r = store.record(LIST)
    assert (r.seen_size, r.alarm) == (4, "BadProofError: the root does not match")
    with store.step(LIST, now=1) as tx:
        tx.apply(_delta(1, MD5[:1]))
        tx.commit(_state(1))
    assert store.record(LIST).alarm == ""
    assert store.record(LIST).seen_size == 4
    assert store.lists() == [LIST]


def test_halting_keeps_evidence(store: ReplicaStore) -> None:
    store.halt(LIST, kind="EquivocationError", message="two roots", trusted=b"a",
               conflicting=b"b", now=9)  # fmt: skip
    r = store.record(LIST)
    assert r.halted
    assert r.alarm == "EquivocationError: two roots"
    [ev] = store.evidence(LIST)
    assert (ev.kind, ev.message, ev.trusted_note, ev.conflicting_note) == (
        "EquivocationError", "two roots", b"a", b"b",
    )  # fmt: skip


def test_trust_roots_are_kept_once(store: ReplicaStore) -> None:
    store.add_trust_roots([(2, b"v2"), (3, b"v3")])
    store.add_trust_roots([(2, b"other")])
    assert store.trust_root(2) == b"v2"
    assert store.trust_root(3) == b"v3"
    assert store.trust_root(4) is None


def test_contact_problems_keep_their_start_time(store: ReplicaStore) -> None:
    store.set_contact(LIST, "unreachable: connection refused", 100)
    store.set_contact(LIST, "unreachable: deadline exceeded", 160)
    r = store.record(LIST)
    assert (r.contact, r.contact_since) == ("unreachable: deadline exceeded", 100)
    store.set_contact(LIST, "refused: PermissionDeniedError: not granted", 200)
    assert store.record(LIST).contact_since == 200
    store.set_contact(LIST, "", 300)
    assert (store.record(LIST).contact, store.record(LIST).contact_since) == ("", 0)


def test_a_consistent_read_sees_state_and_rows_of_one_moment(store: ReplicaStore) -> None:
    with store.step(LIST, now=1) as tx:
        tx.apply(_delta(1, MD5[:2]))
        tx.commit(_state(1))
    with store.consistent(LIST) as (state, rows):
        assert state == _state(1)
        assert sorted(rows) == MD5[:2]


def test_the_read_only_reader_sees_commits_and_cannot_write(stores: Stores) -> None:
    writer = stores[0](None)
    reader = stores[1]()
    try:
        with writer.step(LIST, now=1) as tx:
            tx.apply(_delta(1, MD5[:2]))
            tx.commit(_state(1))
        assert reader.state(LIST) == _state(1)
        assert reader.count(LIST) == 2
        assert reader.lists() == [LIST]
    finally:
        reader.close()
        writer.close()


def test_the_sqlite_reader_never_creates_a_database(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        SqliteReplicaReader(tmp_path / "typo.db")
    assert not (tmp_path / "typo.db").exists()
    SqliteNodeStore(tmp_path / "node.db").close()
    reader = SqliteReplicaReader(tmp_path / "node.db")
    with pytest.raises(sqlite3.OperationalError):
        reader._conn().execute("DELETE FROM members")  # query_only, mode=ro
    reader.close()


# --- the outbox ---


@pytest.fixture(params=sorted(OUTBOXES))
def outbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OutboxStore]:
    o = OUTBOXES[request.param](tmp_path)
    yield o
    o.close()


def test_the_content_key_secret_is_chosen_once(outbox: OutboxStore) -> None:
    first = outbox.secret(b"\1" * 32)
    assert first == b"\1" * 32
    assert outbox.secret(b"\2" * 32) == first


def test_outbox_rows_are_delivered_in_order_and_settled(outbox: OutboxStore) -> None:
    outbox.add([("r1", "report", "{1}", 1, None), ("r2", "report", "{2}", 1, None)])
    outbox.add([("v1", "verdict", "{3}", 2, None)])
    assert outbox.has_report("r1")
    assert not outbox.has_report("v1")  # a verdict, not a report
    pending = outbox.pending(10)
    assert [(kind, body) for _, kind, body in pending] == [
        ("report", "{1}"), ("report", "{2}"), ("verdict", "{3}"),
    ]  # fmt: skip
    seqs = [seq for seq, _, _ in pending]
    assert seqs == sorted(seqs)
    outbox.mark(seqs[:1], now=5)
    outbox.mark(seqs[1:2], now=5, refused="PermissionDeniedError: no grant")
    assert outbox.backlog() == 1
    assert [body for _, _, body in outbox.pending(10)] == ["{3}"]


def test_a_match_key_names_one_report(outbox: OutboxStore) -> None:
    outbox.add([("r1", "report", "{1}", 1, "key-a")])
    assert outbox.report_for("key-a") == "r1"
    assert outbox.report_for("key-b") is None
    with pytest.raises(StorageError):
        outbox.add([("r2", "report", "{2}", 1, "key-a")])
    assert outbox.backlog() == 1


def test_a_batch_with_a_duplicate_id_adds_nothing(outbox: OutboxStore) -> None:
    outbox.add([("r1", "report", "{1}", 1, None)])
    with pytest.raises(StorageError):
        outbox.add([("r2", "report", "{2}", 1, None), ("r1", "report", "{again}", 1, None)])
    assert outbox.backlog() == 1


# --- the SQLite schema's migrations ---


def test_a_database_of_the_previous_schema_opens_and_keeps_its_data(tmp_path: Path) -> None:
    """A first-release replica: its rows stay, its outbox and secret move to the new file."""
    path = tmp_path / "v1.db"
    db = sqlite3.connect(path, isolation_level=None)
    assert migrate(db, "test", MIGRATIONS, upto=1) == 1
    db.execute("INSERT INTO members VALUES(?,?,?)", (LIST, MD5[0], 1))
    db.execute("INSERT INTO meta VALUES('content_key_secret', ?)", ("ab" * 32,))
    db.executescript(FIRST_RELEASE_OUTBOX)
    db.execute("INSERT INTO outbox(id, kind, body, created_at) VALUES('r0','report','{}',1)")
    db.close()
    store = SqliteNodeStore(path)
    outbox = SqliteOutboxStore(tmp_path / "v1.outbox.db", legacy=path)
    try:
        assert store.version_of(LIST, MD5[0]) == 1
        assert outbox.secret(b"\0" * 32) == bytes.fromhex("ab" * 32)  # keyed ids carry over
        assert [(kind, body) for _, kind, body in outbox.pending(5)] == [("report", "{}")]
        outbox.add([("r1", "report", "{}", 1, None)])
    finally:
        outbox.close()
        store.close()
    again = SqliteOutboxStore(tmp_path / "v1.outbox.db", legacy=path)  # imported once only
    assert again.backlog() == 2
    again.close()
    check = sqlite3.connect(path)
    assert schema_version(check) == SCHEMA_VERSION
    check.close()


# The outbox table as the first release created it inside the replica's file.
FIRST_RELEASE_OUTBOX = """
CREATE TABLE outbox(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('report', 'verdict')), body TEXT NOT NULL,
    created_at INTEGER NOT NULL, delivered_at INTEGER, refused TEXT);
"""
