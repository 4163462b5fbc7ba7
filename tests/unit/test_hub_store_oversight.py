"""The ``HubStore`` contract, continued: what the operator's console reads (the audit
trail, a list's history, the review queue, activity per day). Every implementation in
``IMPLEMENTATIONS`` passes it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from hashlist.cases import CaseState, CaseView
from hashlist.delta import make_delta
from hashlist.model import Report, Verdict
from hashlist.oversight import DAY, ActionRecord, CaseDay, MatchDay, VersionInfo
from hashlist.sqlite import migrate
from server.store import MIGRATIONS, HubStore, SqliteHubStore
from tests.unit.test_hub_store_contract import (  # the suite's fixtures and helpers
    LIST,
    MD5,
    _leaf,
    _row,
    opener,
    store,
)

__all__ = ["opener", "store"]
T0 = 1_800_000_000 // DAY * DAY  # a midnight, UTC


def test_each_version_is_kept_with_its_time_and_counts(store: HubStore) -> None:
    store.create_list(_row(), b"log 0")
    store.commit_publication(_leaf(1, MD5[:3]))
    store.commit_publication(_leaf(2, MD5[3:4], MD5[:2]))
    assert store.history(LIST) == [VersionInfo(2, 102, 1, 2), VersionInfo(1, 101, 3, 0)]
    assert store.history(LIST, before=2) == [VersionInfo(1, 101, 3, 0)]
    assert store.history(LIST, limit=1) == [VersionInfo(2, 102, 1, 2)]
    assert store.history("other") == []


def test_versions_published_before_the_history_was_kept_are_counted_from_their_leaves(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v8.db"
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, "test", MIGRATIONS, upto=8)
    leaf = make_delta(LIST, 1, b"\0" * 32, MD5[:3], MD5[5:7]).encode()
    db.execute("INSERT INTO leaves VALUES(?,?,?,?)", (LIST, 0, b"h" * 32, leaf))
    db.close()
    store = SqliteHubStore(path)
    try:
        assert store.history(LIST) == [VersionInfo(1, 0, 3, 2)]  # 0: the time is not known
    finally:
        store.close()


def test_an_action_is_recorded_before_it_runs_and_finished_after(
    opener: Callable[[], HubStore],
) -> None:
    store = opener()
    first = store.record_action(10, "operator", "grant", "takeitdown to yubo", "onboarding")
    second = store.record_action(11, "operator", "revoke certificate", "ab12", "")
    assert second > first
    store.finish_action(first, "done: changed")
    store.close()
    store = opener()  # durable: the trail survives a restart, unfinished rows too
    try:
        assert store.actions() == [
            ActionRecord(second, 11, "operator", "revoke certificate", "ab12", "", "started"),
            ActionRecord(first, 10, "operator", "grant", "takeitdown to yubo", "onboarding",
                         "done: changed"),
        ]  # fmt: skip
        assert [a.id for a in store.actions(before=second)] == [first]
        assert [a.id for a in store.actions(limit=1)] == [second]
    finally:
        store.close()


def _report(n: int, signal: int, matched_at: int) -> Report:
    return Report(f"{n:032x}", LIST, MD5[signal], 0, 1, "", matched_at)


def test_the_review_queue_finds_dissent_and_floods_among_listed_hashes(store: HubStore) -> None:
    store.create_list(_row(), b"log 0")
    store.commit_publication(_leaf(1, MD5[:4]))
    # MD5[0]: two partners found it not violating (dissent); MD5[1]: one partner twice.
    for n, partner in enumerate(("yubo", "facebook")):
        store.add_reports(
            partner,
            [_report(n, 0, T0)],
            [Verdict(f"{50 + n:032x}", f"{n:032x}", "not_violating", T0)],
            T0,
        )
    for n in (2, 3):
        store.add_reports(
            "yubo",
            [_report(n, 1, T0)],
            [Verdict(f"{50 + n:032x}", f"{n:032x}", "not_violating", T0)],
            T0,
        )
    # MD5[2]: three partners within the hour (a flood); MD5[3]: three, but a day apart.
    for n, partner in enumerate(("yubo", "facebook", "instagram")):
        store.add_reports(partner, [_report(10 + n, 2, T0 + 3600 + n)], [], T0 + 3600)
        store.add_reports(partner, [_report(20 + n, 3, T0 - DAY * n)], [], T0 + 3600)
    dissent, flood = store.review_candidates(LIST, dissenters=2, since=T0, partners=3, limit=10)
    assert (dissent, flood) == ([MD5[0]], [MD5[2]])
    assert store.review_candidates(LIST, dissenters=1, since=T0, partners=3, limit=10)[0] == [
        MD5[0], MD5[1]]  # fmt: skip
    assert store.review_candidates(LIST, dissenters=2, since=T0, partners=3, limit=0) == ([], [])
    [zero, two] = store.review_details(LIST, [MD5[0], MD5[2]], T0 + 3600)
    assert zero.partners == (("facebook", 1), ("yubo", 1))
    assert (zero.not_violating, zero.dissenters, zero.removed, zero.recent_partners) == (2, 2, 0, 0)
    assert (two.recent_partners, two.last_activity) == (3, T0 + 3600)
    # Retracted: off the queue.
    store.commit_publication(_leaf(2, [], [MD5[0], MD5[2]]))
    assert store.review_candidates(LIST, dissenters=2, since=T0, partners=3, limit=10) == ([], [])


def test_dismissals_are_kept_per_list_and_hash(store: HubStore) -> None:
    store.dismiss_review(LIST, MD5[0], 100)
    store.dismiss_review(LIST, MD5[0], 200)  # again: the later time
    store.dismiss_review("other", MD5[1], 150)
    assert store.review_dismissals(LIST) == {MD5[0]: 200}


def test_matches_and_cases_are_counted_per_day(store: HubStore) -> None:
    store.create_list(_row(), b"log 0")
    store.commit_publication(_leaf(1, MD5[:2]))
    store.add_reports("yubo", [_report(0, 0, T0 + 5), _report(1, 1, T0 + 6),
                               _report(2, 0, T0 + DAY)],
                      [Verdict(f"{50:032x}", f"{0:032x}", "removed", T0 + 7),
                       Verdict(f"{51:032x}", f"{1:032x}", "not_violating", T0 + 8)],
                      T0 + DAY)  # fmt: skip
    store.add_reports("facebook", [_report(3, 0, T0 - DAY)], [], T0)
    assert store.match_days(T0) == [
        MatchDay(T0, LIST, "yubo", 2, 1, 1),
        MatchDay(T0 + DAY, LIST, "yubo", 1, 0, 0),
    ]
    assert len(store.match_days(T0 - DAY)) == 3
    store.open_case(CaseView("AAAA-0000-0001", LIST, CaseState.RECEIVED, 1, T0 + 1), b"p",
                    [MD5[0]])  # fmt: skip
    store.open_case(CaseView("AAAA-0000-0002", LIST, CaseState.RECEIVED, 1, T0 + 2), b"p",
                    [MD5[1]])  # fmt: skip
    store.close_case("AAAA-0000-0002", retracting=False, at=T0 + DAY)
    store.close_case("AAAA-0000-0001", retracting=False, state=CaseState.REJECTED, at=T0 + DAY)
    assert store.case_days(T0) == [CaseDay(T0, LIST, 2, 0, 0), CaseDay(T0 + DAY, LIST, 0, 1, 1)]
    assert store.case_days(T0 + DAY) == [CaseDay(T0 + DAY, LIST, 0, 1, 1)]
