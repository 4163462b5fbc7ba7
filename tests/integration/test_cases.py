"""Victims' cases on a real hub over mTLS: opened by the intake, published by policy,
read and withdrawn with a PIN, decided by the operator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hashlist.cases import (
    MAX_FAILURES,
    OPEN_STATES,
    CasePolicy,
    CaseState,
    CaseView,
    PolicyMode,
    new_case_number,
    new_pin,
)
from hashlist.cli.demo import wait_until
from hashlist.client import HubClient
from hashlist.errors import (
    AlreadyExistsError,
    ConflictError,
    InputError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
)
from server.serve import RunningHub
from tests.support import client, hub_config, hub_running

MD5 = [f"md5:{i:032x}" for i in range(1, 20)]
AUTO, REVIEW = "takeitdown", "stopncii"


@pytest.fixture
def hub(tmp_path: Path, pki: Path) -> Iterator[RunningHub]:
    config, _ = hub_config(tmp_path, pki)
    with hub_running(config) as running, client(running.port, pki, "operator") as op:
        for name in (AUTO, REVIEW, "nocases"):
            op.create_list(name)
        op.set_case_policy(CasePolicy(AUTO, PolicyMode.AUTO, batch_seconds=1, max_signals=5))
        op.set_case_policy(CasePolicy(REVIEW, PolicyMode.REVIEW))
        yield running


@pytest.fixture
def intake(hub: RunningHub, pki: Path) -> Iterator[HubClient]:
    with client(hub.port, pki, "intake") as c:
        yield c


@pytest.fixture
def op(hub: RunningHub, pki: Path) -> Iterator[HubClient]:
    with client(hub.port, pki, "operator") as c:
        yield c


def _open(intake: HubClient, list_id: str, signals: list[str]) -> tuple[CaseView, str]:
    pin = new_pin()
    return intake.open_case(list_id, new_case_number(), pin, signals), pin


def _listed(hub: RunningHub, list_id: str, signals: list[str]) -> set[str]:
    return hub.hub.store.listed(list_id, signals)


def test_auto_lists_a_case_in_a_batch_and_a_withdrawal_retracts_what_no_other_case_holds(
    hub: RunningHub, intake: HubClient
) -> None:
    first, pin = _open(intake, AUTO, MD5[:3])
    other, other_pin = _open(intake, AUTO, MD5[2:4])  # shares MD5[2]
    assert first.state is CaseState.RECEIVED
    assert first.signals == 3
    wait_until(lambda: intake.get_case(first.number, pin).state is CaseState.LISTED, 10,
               "the batch")  # fmt: skip
    listed = intake.get_case(first.number, pin)
    assert listed.version >= 1
    assert _listed(hub, AUTO, MD5[:4]) == set(MD5[:4])

    withdrawn = intake.withdraw_case(first.number, pin)
    assert withdrawn.state is CaseState.WITHDRAWN
    assert withdrawn.withdrawn_version > listed.version
    # Retracted: the hashes only this case held; kept: the one the other case holds.
    assert _listed(hub, AUTO, MD5[:4]) == set(MD5[2:4])
    assert intake.withdraw_case(first.number, pin) == withdrawn  # again: the same answer
    assert intake.get_case(other.number, other_pin).state is CaseState.LISTED


def test_a_withdrawal_leaves_what_the_operator_had_listed(
    hub: RunningHub, intake: HubClient, op: HubClient
) -> None:
    op.publish(REVIEW, [MD5[3]])  # listed by the operator, before any case
    case, pin = _open(intake, REVIEW, MD5[3:5])
    op.decide_case(case.number, approve=True)
    assert _listed(hub, REVIEW, MD5[3:5]) == set(MD5[3:5])
    intake.withdraw_case(case.number, pin)
    assert _listed(hub, REVIEW, MD5[3:5]) == {MD5[3]}  # only what the case put there went


def test_the_last_case_holding_a_hash_takes_it_off_even_if_never_listed_itself(
    hub: RunningHub, intake: HubClient, op: HubClient
) -> None:
    first, first_pin = _open(intake, REVIEW, MD5[8:9])
    op.decide_case(first.number, approve=True)
    waiting, waiting_pin = _open(intake, REVIEW, MD5[8:9])  # received, never approved
    rejected, _ = _open(intake, REVIEW, MD5[9:10])
    intake.withdraw_case(first.number, first_pin)
    assert _listed(hub, REVIEW, MD5[8:9]) == {MD5[8]}  # the waiting case holds it
    closed = intake.withdraw_case(waiting.number, waiting_pin)
    assert closed.state is CaseState.WITHDRAWN
    assert not _listed(hub, REVIEW, MD5[8:9])  # no open case holds it any more
    # A case whose publication a crash left unrecorded, then rejected: retracted too.
    hub.hub.cases._publish(REVIEW, [rejected.number])
    hub.hub.store.set_case_state([rejected.number], CaseState.RECEIVED)
    assert (
        op.decide_case(rejected.number, approve=False, reason="not an image of the person").state
        is CaseState.REJECTED
    )
    assert not _listed(hub, REVIEW, MD5[9:10])


def test_open_is_no_way_round_the_pin_lockout(intake: HubClient) -> None:
    number, pin = new_case_number(), new_pin()
    intake.open_case(REVIEW, number, pin, MD5[12:13])
    wrong = "0000000000" if pin.replace("-", "") != "0000000000" else "1111111111"
    for _ in range(MAX_FAILURES):
        with pytest.raises(AlreadyExistsError):
            intake.open_case(REVIEW, number, wrong, MD5[12:13])
    with pytest.raises(ResourceExhaustedError, match="too many wrong PINs"):
        intake.open_case(REVIEW, number, pin, MD5[12:13])


def test_review_waits_for_the_operator(hub: RunningHub, intake: HubClient, op: HubClient) -> None:
    approved, pin = _open(intake, REVIEW, MD5[5:7])
    rejected, rejected_pin = _open(intake, REVIEW, MD5[7:8])
    cases, policies = op.list_cases(REVIEW, state="received")
    assert {c.number for c in cases} == {approved.number, rejected.number}
    assert {p.list_id: p.mode for p in policies} == {AUTO: PolicyMode.AUTO,
                                                     REVIEW: PolicyMode.REVIEW}  # fmt: skip
    assert op.show_case(approved.number)[1] == sorted(MD5[5:7])
    hub.hub.cases.publish_due()  # what the hub's chore does every second
    assert not _listed(hub, REVIEW, MD5[5:8])  # no batch for a review list

    decided = op.decide_case(approved.number, approve=True)
    assert decided.state is CaseState.LISTED
    assert decided.version >= 1
    assert _listed(hub, REVIEW, MD5[5:8]) == set(MD5[5:7])
    assert (
        op.decide_case(rejected.number, approve=False, reason="not an image of the person").state
        is CaseState.REJECTED
    )
    assert intake.get_case(rejected.number, rejected_pin).state is CaseState.REJECTED
    with pytest.raises(ConflictError, match="only a received case"):
        op.decide_case(approved.number, approve=False, reason="too late")
    assert intake.get_case(approved.number, pin).version == decided.version


def test_wrong_pins_lock_the_case_and_an_unknown_number_answers_the_same(
    intake: HubClient,
) -> None:
    case, pin = _open(intake, REVIEW, MD5[10:11])
    wrong = "0000000000" if pin.replace("-", "") != "0000000000" else "1111111111"
    with pytest.raises(UnauthenticatedError) as unknown:
        intake.get_case(new_case_number(), pin)
    for _ in range(MAX_FAILURES):
        with pytest.raises(UnauthenticatedError) as refused:
            intake.get_case(case.number, wrong)
    assert str(refused.value).split(": ", 1)[1] == str(unknown.value).split(": ", 1)[1]
    with pytest.raises(ResourceExhaustedError, match="too many wrong PINs"):
        intake.get_case(case.number, pin)  # locked: even the right PIN
    with pytest.raises(ResourceExhaustedError):
        intake.withdraw_case(case.number, pin)


def test_open_refuses_what_a_case_cannot_be(intake: HubClient) -> None:
    with pytest.raises(ConflictError, match="takes no cases"):
        _open(intake, "nocases", MD5[:1])
    with pytest.raises(InputError, match="at most 5"):
        _open(intake, AUTO, MD5[:6])
    with pytest.raises(InputError, match="at least one"):
        _open(intake, AUTO, [])
    with pytest.raises(InputError, match="trivially common"):
        _open(intake, AUTO, ["md5:d41d8cd98f00b204e9800998ecf8427e"])  # the empty file
    with pytest.raises(InputError):
        _open(intake, AUTO, ["md5:nothex"])
    with pytest.raises(InputError, match="PIN"):
        intake.open_case(AUTO, new_case_number(), "12", MD5[:1])


def test_a_retried_open_is_the_same_case_and_a_taken_number_is_refused(
    intake: HubClient,
) -> None:
    number, pin = new_case_number(), new_pin()
    first = intake.open_case(REVIEW, number, pin, MD5[12:13])
    assert intake.open_case(REVIEW, number, pin, MD5[12:13]) == first
    other = "0000000000" if pin.replace("-", "") != "0000000000" else "1111111111"
    with pytest.raises(AlreadyExistsError):
        intake.open_case(REVIEW, number, other, MD5[12:13])


def test_only_the_intake_opens_and_only_the_operator_decides(hub: RunningHub, pki: Path) -> None:
    with client(hub.port, pki, "facebook") as partner, client(hub.port, pki, "intake") as intake:
        with pytest.raises(PermissionDeniedError):
            _open(partner, AUTO, MD5[:1])
        with pytest.raises(PermissionDeniedError):
            intake.list_cases()
        with pytest.raises(PermissionDeniedError):
            intake.set_case_policy(CasePolicy(AUTO, PolicyMode.REVIEW))
        case, _ = _open(intake, REVIEW, MD5[14:15])
        with pytest.raises(PermissionDeniedError):
            intake.decide_case(case.number, approve=True)


def test_a_retraction_a_crash_interrupted_is_finished(
    hub: RunningHub, intake: HubClient, op: HubClient
) -> None:
    case, _ = _open(intake, REVIEW, MD5[16:18])
    op.decide_case(case.number, approve=True)
    # As a crash between recording the withdrawal and publishing its retraction leaves it:
    hub.hub.store.close_case(case.number, retracting=True)
    assert _listed(hub, REVIEW, MD5[16:18]) == set(MD5[16:18])
    wait_until(lambda: not _listed(hub, REVIEW, MD5[16:18]), 10, "the retraction")
    view, _ = op.show_case(case.number)
    assert view.state is CaseState.WITHDRAWN
    assert view.withdrawn_version > view.version


def test_approved_cases_a_crash_left_unpublished_are_published(
    hub: RunningHub, intake: HubClient, op: HubClient
) -> None:
    case, _ = _open(intake, REVIEW, MD5[18:19])
    hub.hub.store.set_case_state([case.number], CaseState.APPROVED)  # approved, then a crash
    wait_until(lambda: op.show_case(case.number)[0].state is CaseState.LISTED, 10, "publication")
    assert _listed(hub, REVIEW, MD5[18:19]) == {MD5[18]}


def test_the_store_and_the_states_agree_on_which_cases_are_open() -> None:
    assert {s.value for s in OPEN_STATES} == {"received", "approved", "listed"}
