"""``node status``: a list is healthy only when verified, fresh, unalarmed and in contact."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hashlist.verify import TrustedState
from node.status import format_status, status_row
from node.store import ListRecord
from tests.conftest import Keys

NOW = 1_800_000_000
LIST = "takeitdown"
SYNCED = replace(TrustedState.empty(LIST), size=3, cosigned_at=NOW - 10, checkpoint_note=b"n\n")
FRESH = ListRecord(SYNCED, 3, "", False, NOW - 10)


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        (ListRecord(TrustedState.empty(LIST), 0, "", False, 0), "never synced"),
        (replace(FRESH, alarm="BadProofError: root"), "alarm: BadProofError: root"),
        (replace(FRESH, halted=True, alarm="EquivocationError: two roots"),
         "halted: EquivocationError: two roots"),
        (replace(FRESH, contact="refused: PermissionDeniedError: may not read list",
                 contact_since=NOW - 5),
         "refused by the hub: PermissionDeniedError: may not read list"),
        (replace(FRESH, contact="unreachable: connection refused", contact_since=NOW - 90),
         "cannot reach the hub since 2027-01-15 07:58:30Z"),
        (replace(FRESH, state=replace(SYNCED, cosigned_at=NOW - 7200)),
         "stale: newest cosignature 7200 s old, over the 3600 s maximum"),
    ],
)  # fmt: skip
def test_each_problem_is_named_and_unhealthy(keys: Keys, record: ListRecord, problem: str) -> None:
    row = status_row("yubo", record, 0, keys.trust(), NOW)
    assert not row.healthy
    assert any(p.startswith(problem) for p in row.problems), row.problems
    assert problem[:20] in format_status([row])


def test_unreachable_says_for_how_long(keys: Keys) -> None:
    record = replace(FRESH, contact="unreachable: connection refused", contact_since=NOW - 90)
    [problem] = status_row("yubo", record, 0, keys.trust(), NOW).problems
    assert "(90 s): connection refused" in problem


def test_a_verified_fresh_list_in_contact_is_healthy(keys: Keys) -> None:
    row = status_row("yubo", FRESH, 12, keys.trust(), NOW)
    assert row.healthy
    assert row.problems == ()
    assert (row.version, row.hashes, row.cosignature_age) == (3, 12, 10)
    assert format_status([row]).splitlines()[1].endswith(" ok")


def test_a_database_no_node_holds_is_not_healthy(keys: Keys) -> None:
    row = status_row("yubo", FRESH, 12, keys.trust(), NOW, running=False)
    assert not row.healthy
    assert row.problems[0].startswith("no node is running on this database")
