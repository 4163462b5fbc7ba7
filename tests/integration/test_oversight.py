"""The operator's oversight on a real hub over mTLS: every action in the audit trail
(from the same RPCs the CLI and the console call), a list's history, the review queue
(dissent and floods), dismissals and activity per day."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hashlist.errors import InputError, PermissionDeniedError
from hashlist.model import Report, Verdict
from hashlist.oversight import DAY, ReviewReason
from server.serve import RunningHub
from tests.support import client, hub_config, hub_running

LIST = "takeitdown"
MD5 = [f"md5:{i:032x}" for i in range(1, 10)]
PARTNERS = ("facebook", "instagram", "yubo")


@pytest.fixture
def hub(tmp_path: Path, pki: Path) -> Iterator[RunningHub]:
    config, _ = hub_config(tmp_path, pki)
    with hub_running(config) as running:
        yield running


def _report(signal: str, matched_at: int, version: int = 1) -> Report:
    return Report(uuid.uuid4().hex, LIST, signal, 0, version, "", matched_at)


def test_every_operator_action_is_in_the_audit_trail_with_its_outcome(
    hub: RunningHub, pki: Path
) -> None:
    with client(hub.port, pki, "operator") as op:
        op.create_list(LIST, reason="Take It Down's list")
        op.grant(LIST, "yubo", new_partner=True, reason="signed the agreement")
        op.publish(LIST, MD5[:2], reason="first batch")
        op.publish(LIST, [], MD5[:1], reason="reported as not an image of the person")
        with pytest.raises(InputError):
            op.grant(LIST, "yubbo", reason="a typo")  # refused: recorded as failed
        op.revoke_certificate("ab" * 8, reason="laptop lost")
        trail = op.actions()
    assert [(a.action, a.target, a.reason) for a in reversed(trail)] == [
        ("create list", LIST, "Take It Down's list"),
        ("grant", f"{LIST} to yubo", "signed the agreement"),
        ("publish", f"{LIST}: 2 additions, 0 retractions", "first batch"),
        ("retract", f"{LIST}: {MD5[0]}", "reported as not an image of the person"),
        ("grant", f"{LIST} to yubbo", "a typo"),
        ("revoke certificate", "ab" * 8, "laptop lost"),
    ]
    assert {a.who for a in trail} == {"operator"}
    outcomes = [a.outcome for a in reversed(trail)]
    assert outcomes[2] == "done: version 1: 2 added, 0 retracted"
    assert outcomes[4].startswith("failed: invalid argument:")
    assert "yubbo" in outcomes[4]
    assert outcomes[5] == "done: revoked"
    assert all(abs(a.at - time.time()) < 60 for a in trail)


def test_only_the_operator_reads_or_writes_the_trail_and_reasons_are_bounded(
    hub: RunningHub, pki: Path
) -> None:
    with client(hub.port, pki, "operator") as op, client(hub.port, pki, "yubo") as yubo:
        op.create_list(LIST)
        with pytest.raises(PermissionDeniedError):
            yubo.actions()
        with pytest.raises(PermissionDeniedError):
            yubo.grant(LIST, "yubo", new_partner=True)
        with pytest.raises(InputError, match="at most 500 characters"):
            op.grant(LIST, "yubo", new_partner=True, reason="x" * 501)
        with pytest.raises(InputError, match="printable"):
            op.grant(LIST, "yubo", new_partner=True, reason="one\nline")
        assert [a.action for a in op.actions()] == ["create list"]  # refusals before recording
        with pytest.raises(InputError):
            op.grant(LIST, "a\x1b[2Kb\n" + "x" * 1000, new_partner=True)  # recorded, defanged
        target = op.actions()[0].target
        assert target.isprintable()
        assert len(target) <= 300


def test_a_lists_history_shows_each_version_with_its_counts(hub: RunningHub, pki: Path) -> None:
    with client(hub.port, pki, "operator") as op:
        op.create_list(LIST)
        op.publish(LIST, MD5[:3])
        op.publish(LIST, MD5[3:4], MD5[:2])
        history = op.history(LIST)
    assert [(v.version, v.added, v.removed) for v in history] == [(2, 1, 2), (1, 3, 0)]
    assert all(abs(v.published_at - time.time()) < 60 for v in history)


def test_the_review_queue_flags_dissent_and_floods_and_a_dismissal_lasts_until_news(
    hub: RunningHub, pki: Path
) -> None:
    now = int(time.time())
    with client(hub.port, pki, "operator") as op:
        op.create_list(LIST)
        for p in PARTNERS:
            op.grant(LIST, p, new_partner=True)
        op.publish(LIST, MD5[:4])
        # MD5[0]: two partners found it not violating. MD5[1]: all three matched it within
        # the hour (a flood). MD5[2]: one partner, many reports and dissent: not enough.
        for p in PARTNERS:
            with client(hub.port, pki, p) as partner:
                reports = [_report(MD5[1], now - 60)]
                if p != "yubo":
                    reports.append(_report(MD5[0], now - DAY))
                verdicts = [Verdict(uuid.uuid4().hex, r.report_id, "not_violating", now)
                            for r in reports if r.signal == MD5[0]]  # fmt: skip
                if p == "yubo":
                    reports += [_report(MD5[2], now - DAY) for _ in range(5)]
                    verdicts += [Verdict(uuid.uuid4().hex, r.report_id, "not_violating", now)
                                 for r in reports if r.signal == MD5[2]]  # fmt: skip
                partner.submit(reports, verdicts)
        queue = {i.signal: i for i in op.review(LIST)}
        assert set(queue) == {MD5[0], MD5[1]}
        assert queue[MD5[0]].reasons == (ReviewReason.DISSENT,)
        assert (queue[MD5[0]].dissenters, queue[MD5[0]].not_violating) == (2, 2)
        assert queue[MD5[1]].reasons == (ReviewReason.FLOOD,)
        assert queue[MD5[1]].partners == tuple((p, 1) for p in PARTNERS)
        assert {i.signal for i in op.review(LIST, flood_partners=4)} == {MD5[0]}
        assert {i.signal for i in op.review(LIST, review_threshold=1)} == set(MD5[:3])

        with pytest.raises(InputError, match="reason"):
            op.dismiss(LIST, MD5[1], reason="")
        op.dismiss(LIST, MD5[1], reason="a meme everyone shares: verified with NCMEC")
        assert {i.signal for i in op.review(LIST)} == {MD5[0]}
        time.sleep(1.1)  # news after the dismissal (times are in seconds)
        with client(hub.port, pki, "yubo") as yubo:
            yubo.submit([_report(MD5[1], now)], [])
        assert {i.signal for i in op.review(LIST)} == {MD5[0], MD5[1]}

        op.publish(LIST, [], [MD5[0]], reason="two platforms found it not violating")
        assert {i.signal for i in op.review(LIST)} == {MD5[1]}  # retracted: off the queue
        assert op.actions()[0].action == "retract"


def test_activity_counts_matches_per_partner_and_cases_per_day(hub: RunningHub, pki: Path) -> None:
    now = int(time.time())
    today = now // DAY * DAY
    with client(hub.port, pki, "operator") as op:
        op.create_list(LIST)
        op.grant(LIST, "yubo", new_partner=True)
        op.publish(LIST, MD5[:2])
        with client(hub.port, pki, "yubo") as yubo:
            old, new = _report(MD5[0], today - 2 * DAY + 5), _report(MD5[1], now)
            yubo.submit([old, new], [Verdict(uuid.uuid4().hex, old.report_id, "removed", now)])
        matches, cases = op.activity(7)
        assert [(d.day, d.partner, d.matches, d.removed) for d in matches] == [
            (today - 2 * DAY, "yubo", 1, 1), (today, "yubo", 1, 0)]  # fmt: skip
        assert op.activity(1)[0] == [m for m in matches if m.day == today]
        assert cases == []
        with pytest.raises(InputError, match="days"):
            op.activity(400)
