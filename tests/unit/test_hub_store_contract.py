"""The ``HubStore`` contract: every implementation passes this one suite.

Today the implementations are ``SqliteHubStore``; a PostgreSQL store joins
``IMPLEMENTATIONS`` and must pass the same tests, nothing else.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from hashlist.cases import CasePolicy, CaseState, CaseView, PinAttempts, PolicyMode
from hashlist.errors import StorageError
from hashlist.identity import Identity, Role
from hashlist.model import Report, Verdict
from hashlist.signals import SignalText
from hashlist.sqlite import migrate, schema_version
from server.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    CaseRecord,
    HubStore,
    ListRow,
    LogEntry,
    NewPublication,
    SqliteHubStore,
)

IMPLEMENTATIONS: dict[str, Callable[[Path], HubStore]] = {
    # Small snapshot pages, so that a snapshot of a few members is read in several.
    "sqlite": lambda folder: SqliteHubStore(folder / "hub.db", snapshot_page=3),
}
LIST = "takeitdown"
MD5 = [SignalText(f"md5:{i:032x}") for i in range(10)]


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], HubStore]:
    return lambda: IMPLEMENTATIONS[request.param](tmp_path)


@pytest.fixture
def store(opener: Callable[[], HubStore]) -> Iterator[HubStore]:
    s = opener()
    yield s
    s.close()


def _row(list_id: str = LIST) -> ListRow:
    return ListRow(list_id, 0, 0, b"\0" * 2048, b"note 0", 100)


def _entry(
    version: int, adds: Sequence[SignalText], removes: Sequence[SignalText] = ()
) -> LogEntry:
    return LogEntry(version, f"leaf {version}".encode(), bytes([version]) * 32, list(adds),
                    list(removes), f"log {version}".encode())  # fmt: skip


def _leaf(version: int, adds: Sequence[SignalText], removes: Sequence[SignalText] = (),
          key: str = "", hashes: int = 0, *more: LogEntry) -> NewPublication:  # fmt: skip
    entries = [_entry(version, adds, removes), *more]
    last = entries[-1].version
    return NewPublication(
        list_id=LIST, entries=entries, hashes=hashes, lthash=bytes([last]) * 2048,
        cosigned_note=f"note {last}".encode(), cosigned_at=100 + last, idempotency_key=key,
        response=f"answer {last}".encode(),
    )  # fmt: skip


def test_a_list_is_created_once(store: HubStore) -> None:
    assert store.create_list(_row(), b"log 0")
    assert not store.create_list(_row(), b"log 0")
    assert store.get_list(LIST) == _row()
    assert [r.list_id for r in store.lists()] == [LIST]
    assert store.get_list("other") is None


def test_grants_are_set_and_revoked(store: HubStore) -> None:
    store.create_list(_row(), b"log 0")
    assert store.set_grant(LIST, "yubo", True)
    assert store.set_grant(LIST, "facebook", True)
    assert not store.set_grant(LIST, "yubo", True)  # unchanged
    assert store.partners(LIST) == ["facebook", "yubo"]
    assert (LIST, "yubo") in store.grants()
    assert store.set_grant(LIST, "yubo", False)
    assert (LIST, "yubo") not in store.grants()
    assert not store.set_grant(LIST, "yubo", False)


def test_a_publication_commits_whole(store: HubStore) -> None:
    store.create_list(_row(), b"log 0")
    store.commit_publication(_leaf(1, MD5[:3], key="k1", hashes=3))
    store.commit_publication(_leaf(2, [MD5[3]], [MD5[0]], hashes=3))
    row = store.get_list(LIST)
    assert row is not None
    assert (row.size, row.hashes, row.latest_note, row.cosigned_at) == (2, 3, b"note 2", 102)
    assert list(store.leaves(LIST, 0, 2)) == [b"leaf 1", b"leaf 2"]
    assert list(store.leaves(LIST, 1, 2)) == [b"leaf 2"]
    assert list(store.leaf_hashes(LIST)) == [b"\1" * 32, b"\2" * 32]
    assert store.listed(LIST, [*MD5[:5]]) == {MD5[1], MD5[2], MD5[3]}
    assert store.publication("k1") == (LIST, b"answer 1", b"")
    assert store.publication("unknown") is None


def test_a_publication_of_several_entries_commits_whole(store: HubStore) -> None:
    store.create_list(_row(), b"log 0")
    store.commit_publication(
        _leaf(1, MD5[:2], [], "k", 3, _entry(2, [MD5[2]]), _entry(3, [], [MD5[0]]))
    )
    row = store.get_list(LIST)
    assert row is not None
    assert (row.size, row.latest_note) == (3, b"note 3")
    assert list(store.leaves(LIST, 0, 3)) == [b"leaf 1", b"leaf 2", b"leaf 3"]
    with store.snapshot(LIST) as view:
        assert list(view.members()) == [(MD5[1], 1), (MD5[2], 2)]
    # Entries that do not start at the list's size + 1, or skip one, are refused whole.
    for wrong in (_leaf(5, [MD5[5]]), _leaf(4, [MD5[5]], [], "", 0, _entry(6, [MD5[6]]))):
        with pytest.raises(StorageError):
            store.commit_publication(wrong)
    assert store.get_list(LIST).size == 3  # type: ignore[union-attr]
    assert store.listed(LIST, MD5[5:7]) == set()


def test_a_second_leaf_for_one_version_is_refused_and_nothing_is_written(store: HubStore) -> None:
    store.create_list(_row(), b"log 0")
    store.commit_publication(_leaf(1, MD5[:1], hashes=1))
    for wrong in (1, 3):
        with pytest.raises(StorageError):
            store.commit_publication(_leaf(wrong, MD5[5:6], key=f"k{wrong}"))
    assert store.get_list(LIST).size == 1  # type: ignore[union-attr]
    assert store.listed(LIST, MD5[5:6]) == set()
    assert store.publication("k3") is None


def test_a_failing_publication_is_rolled_back(store: HubStore) -> None:
    store.create_list(_row(), b"log 0")
    store.commit_publication(_leaf(1, MD5[:2], hashes=2))
    # Adding a hash already listed breaks the set's key halfway through the write.
    with pytest.raises(StorageError):
        store.commit_publication(_leaf(2, [MD5[5], MD5[0]], key="half"))
    assert store.get_list(LIST).size == 1  # type: ignore[union-attr]
    assert list(store.leaves(LIST, 0, 5)) == [b"leaf 1"]
    assert store.listed(LIST, [MD5[5]]) == set()
    assert store.publication("half") is None


def test_a_cosigned_note_replaces_only_at_its_size(store: HubStore) -> None:
    store.create_list(_row(), b"log 0")
    store.commit_publication(_leaf(1, MD5[:1]))
    assert not store.update_cosigned(LIST, 0, b"stale", 500)
    assert store.update_cosigned(LIST, 1, b"fresh", 500)
    row = store.get_list(LIST)
    assert row is not None
    assert (row.latest_note, row.cosigned_at) == (b"fresh", 500)


def test_a_snapshot_sees_one_version_while_publishing_goes_on(store: HubStore) -> None:
    store.create_list(_row(), b"log 0")
    store.commit_publication(_leaf(1, MD5[:8], hashes=8))
    with store.snapshot(LIST) as view:
        members = view.members()
        first = next(members)
        # Other threads publish while the snapshot is open: removals, a removed hash
        # listed again, additions.
        for publication in (
            _leaf(2, [MD5[8]], [MD5[1], MD5[5]], hashes=7),
            _leaf(3, [MD5[5]], [MD5[6]], hashes=7),
        ):
            writer = threading.Thread(target=store.commit_publication, args=(publication,))
            writer.start()
            writer.join()
        assert view.row.size == 1
        assert [first, *members] == [(s, 1) for s in MD5[:8]]
        assert view.leaf(0) == b"leaf 1"
    assert store.get_list(LIST).size == 3  # type: ignore[union-attr]
    with store.snapshot(LIST) as view:  # a new snapshot sees the new version
        expected = [(MD5[i], 1) for i in (0, 2, 3, 4, 7)] + [(MD5[5], 3), (MD5[8], 2)]
        assert list(view.members()) == sorted(expected)


def test_reports_and_verdicts_are_kept_once_each(store: HubStore) -> None:
    store.create_list(_row(), b"log 0")
    reports = [Report(f"{i:032x}", LIST, MD5[i % 2], 0, 1, "", 10) for i in range(3)]
    verdicts = [Verdict(f"{9:032x}", reports[0].report_id, "removed", 11)]
    assert store.add_reports("yubo", reports, verdicts, 20) == (3, 1)
    assert store.add_reports("yubo", reports, verdicts, 21) == (0, 0)
    later = Verdict(f"{8:032x}", reports[0].report_id, "not_violating", 12)
    other = Verdict(f"{7:032x}", reports[1].report_id, "removed", 12)
    assert store.add_reports("facebook", [], [other], 22) == (0, 1)  # not the reporter's
    assert store.add_reports("yubo", [], [later], 23) == (0, 1)
    counts = store.report_counts(LIST)
    assert sorted(counts.per_partner) == [(MD5[0], "yubo", 2), (MD5[1], "yubo", 1)]
    # Only the latest verdict of the reporting partner counts.
    assert sorted(counts.verdicts) == [(MD5[0], "not_violating", 1)]


def test_report_counts_come_a_page_of_signals_at_a_time(store: HubStore) -> None:
    store.create_list(_row(), b"log 0")
    reports = [Report(f"{i:032x}", LIST, MD5[i % 5], 0, 1, "", 10) for i in range(10)]
    store.add_reports("yubo", reports, [Verdict(f"{99:032x}", reports[3].report_id,
                                                "not_violating", 11)], 20)  # fmt: skip
    first = store.report_counts(LIST, "", 2)
    assert first.per_partner == [(MD5[0], "yubo", 2), (MD5[1], "yubo", 2)]
    rest = store.report_counts(LIST, MD5[1], 2)
    assert rest.per_partner == [(MD5[2], "yubo", 2), (MD5[3], "yubo", 2)]
    assert list(rest.verdicts) == [(MD5[3], "not_violating", 1)]
    assert list(rest.dissenters) == [(MD5[3], 1)]
    assert store.report_counts(LIST, MD5[4], 2).per_partner == []
    assert len(store.report_counts(LIST).per_partner) == 5  # no limit: all


def test_reports_and_verdicts_are_purged_by_when_they_were_received(store: HubStore) -> None:
    store.create_list(_row(), b"log 0")
    old = [Report(f"{i:032x}", LIST, MD5[0], 0, 1, "", 10) for i in range(5)]
    store.add_reports("yubo", old, [Verdict(f"{50:032x}", old[0].report_id, "removed", 11)], 100)
    new = [Report(f"{i:032x}", LIST, MD5[1], 0, 1, "", 10) for i in range(5, 7)]
    store.add_reports("yubo", new, [Verdict(f"{51:032x}", new[0].report_id, "removed", 11)], 200)
    assert store.purge_reports(150, 2) == (2, 1)  # a batch at a time
    assert store.purge_reports(150, 2) == (2, 0)
    assert store.purge_reports(150, 2) == (1, 0)
    assert store.purge_reports(150, 2) == (0, 0)
    counts = store.report_counts(LIST)
    assert counts.per_partner == [(MD5[1], "yubo", 2)]
    assert list(counts.verdicts) == [(MD5[1], "removed", 1)]


def test_revoked_serials_are_kept_once(opener: Callable[[], HubStore]) -> None:
    first = opener()
    assert first.revoked() == set()
    assert first.revoke("3da1873c", 10) is True
    assert first.revoke("3da1873c", 11) is False
    first.close()
    again = opener()
    try:
        assert again.revoked() == {"3da1873c"}
    finally:
        again.close()


def test_certificates_seen_and_progress_are_kept(store: HubStore) -> None:
    who = Identity(Role.PARTNER, "acme", "3da1873c", 1_900_000_000)
    store.saw_certificate(who, 100)
    store.saw_certificate(who, 160)  # a later sighting: last_seen moves, nothing else
    assert store.certificates() == [("3da1873c", "partner", "acme", 1_900_000_000, 160)]
    store.create_list(_row(), b"log 0")
    store.set_grant(LIST, "acme", True)
    store.set_progress("acme", LIST, 3, 170)
    store.set_progress("acme", LIST, 4, 180)
    assert store.progress() == [("acme", LIST, 4, 180)]
    assert store.grants() == [(LIST, "acme")]


def test_everything_is_durable_across_a_reopen(opener: Callable[[], HubStore]) -> None:
    first = opener()
    first.create_list(_row(), b"log 0")
    first.commit_publication(_leaf(1, MD5[:2], key="k", hashes=2))
    first.set_grant(LIST, "yubo", True)
    first.open_case(_case("AAAA-AAAA-AAAA"), b"h", MD5[:2])
    first.close()
    again = opener()
    try:
        assert again.get_list(LIST).size == 1  # type: ignore[union-attr]
        assert (LIST, "yubo") in again.grants()
        assert again.publication("k") == (LIST, b"answer 1", b"")
        assert again.case_signals(["AAAA-AAAA-AAAA"]) == set(MD5[:2])
    finally:
        again.close()


def _case(number: str, state: CaseState = CaseState.RECEIVED, n: int = 2) -> CaseView:
    return CaseView(number, LIST, state, n, 500)


def test_a_case_is_stored_whole_once_with_its_pin_hash_only(store: HubStore) -> None:
    assert store.open_case(_case("AAAA-AAAA-AAAA"), b"scrypt$hash", MD5[:2]) is None
    again = store.open_case(_case("AAAA-AAAA-AAAA", n=1), b"other", MD5[5:6])
    assert again is not None  # the number is taken: the case already there, unchanged
    assert again == CaseRecord(_case("AAAA-AAAA-AAAA"), b"scrypt$hash", PinAttempts(), False)
    assert store.case("AAAA-AAAA-AAAA") == again
    assert store.case_signals(["AAAA-AAAA-AAAA"]) == set(MD5[:2])
    assert store.case("BBBB-BBBB-BBBB") is None


def test_cases_move_through_their_states(store: HubStore) -> None:
    for number in ("AAAA-0000-0001", "AAAA-0000-0002", "AAAA-0000-0003"):
        store.open_case(_case(number), b"h", MD5[:2])
    store.set_case_state(["AAAA-0000-0001", "AAAA-0000-0002"], CaseState.LISTED, version=7)
    store.set_pin_attempts("AAAA-0000-0003", PinAttempts(2, 1, 999))
    assert [c.number for c in store.cases(LIST, CaseState.LISTED)] == [
        "AAAA-0000-0001", "AAAA-0000-0002"]  # fmt: skip
    assert [c.number for c in store.cases(after="AAAA-0000-0001", limit=1)] == ["AAAA-0000-0002"]
    assert store.cases("other") == []
    assert store.case("AAAA-0000-0003").attempts == PinAttempts(2, 1, 999)  # type: ignore[union-attr]
    # Open cases hold their hashes; a withdrawn one does not.
    store.close_case("AAAA-0000-0001", retracting=True)
    store.set_case_state(["AAAA-0000-0003"], CaseState.REJECTED)
    assert store.held_by_open_cases(LIST, [*MD5[:3]]) == set(MD5[:2])  # case 2, still listed
    store.set_case_state(["AAAA-0000-0002"], CaseState.WITHDRAWN)
    assert store.held_by_open_cases(LIST, [*MD5[:3]]) == set()
    assert store.retractions_pending() == ["AAAA-0000-0001"]
    store.mark_case_listed(LIST, MD5[:2])
    assert store.case_listed(LIST, [*MD5[:3]]) == set(MD5[:2])
    store.retraction_done("AAAA-0000-0001", 9, [MD5[0]])
    assert store.retractions_pending() == []
    assert store.case_listed(LIST, [*MD5[:3]]) == {MD5[1]}  # forgotten with the retraction
    view = store.case("AAAA-0000-0001").view  # type: ignore[union-attr]
    assert (view.state, view.version, view.withdrawn_version) == (CaseState.WITHDRAWN, 7, 9)


def test_case_policies_are_kept_per_list(store: HubStore) -> None:
    store.set_case_policy(CasePolicy(LIST, PolicyMode.AUTO, 30, 10))
    store.set_case_policy(CasePolicy("b", PolicyMode.REVIEW))
    store.set_case_policy(CasePolicy(LIST, PolicyMode.REVIEW, 60, 20))  # replaced
    assert store.case_policies() == [CasePolicy("b", PolicyMode.REVIEW),
                                     CasePolicy(LIST, PolicyMode.REVIEW, 60, 20)]  # fmt: skip


# --- SQLite only ---


def test_a_snapshot_being_read_holds_back_no_wal_checkpoint(tmp_path: Path) -> None:
    """Between pages no read transaction is open: a client that stops reading a
    snapshot cannot keep the write-ahead log from being checkpointed and cut."""
    store = SqliteHubStore(tmp_path / "hub.db", snapshot_page=2)
    try:
        store.create_list(_row(), b"log 0")
        store.commit_publication(_leaf(1, MD5[:6], hashes=6))
        with store.snapshot(LIST) as view:
            members = view.members()
            next(members)
            store.commit_publication(_leaf(2, [MD5[6]], [MD5[4]], hashes=6))
            db = sqlite3.connect(tmp_path / "hub.db", timeout=0.5)
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            db.close()
            assert busy == 0
            assert (tmp_path / "hub.db-wal").stat().st_size == 0
            assert list(members) == [(s, 1) for s in MD5[1:6]]  # version 1, MD5[4] too
    finally:
        store.close()


# --- the SQLite schema's migrations ---


def test_a_database_of_the_previous_schema_opens_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    db = sqlite3.connect(path, isolation_level=None)
    assert migrate(db, "test", MIGRATIONS, upto=1) == 1
    db.execute("INSERT INTO lists VALUES(?,?,?,?,?,?)", (LIST, 0, 0, b"\0" * 2048, b"n", 5))
    db.execute("INSERT INTO grants VALUES(?,?)", (LIST, "yubo"))
    db.close()
    store = SqliteHubStore(path)
    try:
        assert store.get_list(LIST) == ListRow(LIST, 0, 0, b"\0" * 2048, b"n", 5)
        assert (LIST, "yubo") in store.grants()
        report = Report("a" * 32, LIST, MD5[0], 0, 1, "", 1)
        assert store.add_reports("yubo", [report], [], 2) == (1, 0)  # a table of version 2
    finally:
        store.close()
    check = sqlite3.connect(path)
    assert schema_version(check) == SCHEMA_VERSION
    check.close()


def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    SqliteHubStore(tmp_path / "hub.db").close()
    db = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
    db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION + 1),))
    db.close()
    with pytest.raises(StorageError, match="newer than this hashlist"):
        SqliteHubStore(tmp_path / "hub.db")
