"""The operator's console in Debian's headless chromium against a real, seeded hub
(two lists, three partners, cases, matches, verdicts, a witness): each view shows the
seeded numbers; a retraction from the review queue reaches a real node's replica; a
revoke from the partners view cuts the partner off; a browser without the login is
refused; axe-core finds nothing serious; the keyboard reaches every action.

``HASHLIST_CONSOLE_SCREENSHOTS=DIR`` saves a screenshot of each view into DIR (how
``docs/console/`` was made).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from hashlist.clock import SystemClock
from hashlist.errors import PermissionDeniedError, UnauthenticatedError
from hashlist.signals import SignalText
from server.console.serve import RunningConsole
from tests.console_support import (
    AUTO,
    DISSENT,
    FLOOD,
    REVIEW,
    SEEDED,
    Seeded,
    console_for,
    seeded_hub,
)
from tests.support import node_syncer

VIEWS = ("lists", "partners", "cases", "review", "matches", "actions")


@pytest.fixture
def seeded(tmp_path: Path, pki: Path) -> Iterator[Seeded]:
    with seeded_hub(tmp_path, pki, int(time.time())) as s:
        yield s


@pytest.fixture
def console(seeded: Seeded) -> Iterator[RunningConsole]:
    with console_for(seeded) as running:
        yield running


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1366, "height": 900}, bypass_csp=False)
    yield ctx
    ctx.close()


def _signed_in(context: BrowserContext, console: RunningConsole) -> Page:
    page = context.new_page()
    page.goto(console.login_url)
    assert page.url == f"{console.url}/lists"  # the token is gone from the address bar
    return page


def _cell(page: Page, row: str, field: str) -> str:
    return page.locator(f'{row} [data-field="{field}"]').first.inner_text().strip()


def test_each_view_shows_the_seeded_numbers(
    context: BrowserContext, console: RunningConsole, seeded: Seeded
) -> None:
    page = _signed_in(context, console)
    shots = os.environ.get("HASHLIST_CONSOLE_SCREENSHOTS")
    for list_id, (version, hashes) in SEEDED.lists.items():
        row = f'tr[data-list="{list_id}"]'
        assert _cell(page, row, "version") == str(version)
        assert _cell(page, row, "hashes") == str(hashes)
        assert "witness.example: " in _cell(page, row, "witnesses")
        assert "ago" in _cell(page, row, "witnesses")
    _shoot(page, shots, "lists")

    page.click(f'a[href="/lists/{AUTO}"]')
    assert [page.locator(f'tr[data-version="{v}"] [data-field="added"]').inner_text()
            for v in (3, 2, 1)] == ["1", "0", "6"]  # fmt: skip
    assert page.locator('tr[data-version="2"] [data-field="removed"]').inner_text() == "1"
    _shoot(page, shots, "history")

    page.click('nav a[href="/partners"]')
    for partner, lists in SEEDED.progress.items():
        for list_id, (version, lag) in lists.items():
            row = f'[data-partner="{partner}"] tr[data-list="{list_id}"]'
            assert _cell(page, row, "version") == str(version)
            assert _cell(page, row, "lag").startswith(str(lag))
            stale = (partner, list_id) in SEEDED.stale
            assert ("stale" in _cell(page, row, "lag")) == stale, (partner, list_id)
    _shoot(page, shots, "partners")

    page.click('nav a[href="/cases"]')
    for number in seeded.queued:
        assert page.locator(f'tr[data-case="{number}"]').count() == 1
    assert page.locator(f'tr[data-case="{seeded.withdrawn}"]').count() == 1  # withdrawals
    today = f'tr[data-list="{REVIEW}"]'
    assert _cell(page, today, "opened") == "3"
    assert _cell(page, today, "withdrawn") == "1"
    _shoot(page, shots, "cases")

    page.click('nav a[href="/review"]')
    for signal, reasons in SEEDED.review.items():
        item = page.locator(f'[data-signal="{signal}"]')
        text = item.inner_text()
        assert ("flood of matches" in text) == ("flood" in reasons)
        assert ("partners' dissent" in text) == ("dissent" in reasons)
    assert page.locator("[data-signal]").count() == len(SEEDED.review)
    _shoot(page, shots, "review")

    page.click('nav a[href="/matches"]')
    for partner, (matches, removed, not_violating) in SEEDED.matches.items():
        row = f'[data-list="{AUTO}"] tr[data-partner="{partner}"]'
        assert _cell(page, row, "matches") == str(matches)
        assert _cell(page, row, "removed").startswith(f"{removed} (")
        assert _cell(page, row, "not_violating").startswith(f"{not_violating} (")
    chart = page.locator(f'[data-list="{AUTO}"] svg[role="img"]')
    assert "facebook 4" in str(chart.get_attribute("aria-label"))
    assert page.locator(f'[data-list="{AUTO}"] svg rect').count() >= 3
    _shoot(page, shots, "matches")

    page.click('nav a[href="/actions"]')
    actions = page.locator('[data-field="action"]').all_inner_texts()
    assert actions.count("grant") == 5
    assert "create list" in actions
    assert "retract" in actions
    _shoot(page, shots, "actions")


def _shoot(page: Page, folder: str | None, name: str) -> None:
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_a_retraction_from_the_review_queue_reaches_a_node(
    context: BrowserContext, console: RunningConsole, seeded: Seeded, tmp_path: Path
) -> None:
    with node_syncer(tmp_path / "node", seeded.pki, seeded.hub.port, seeded.trust,
                     SystemClock()) as (syncer, replica):  # fmt: skip
        syncer.sync(AUTO)
        assert replica.listed(AUTO, [SignalText(DISSENT)]) == {DISSENT}
        page = _signed_in(context, console)
        page.click('nav a[href="/review"]')
        item = page.locator(f'[data-signal="{DISSENT}"]')
        item.locator('form[action="/review/retract"] input[name="reason"]').fill(
            "two platforms found it not violating"
        )
        item.locator('form[action="/review/retract"] button').click()
        assert "every node drops it" in page.locator(".flash.done").inner_text()
        assert page.locator(f'[data-signal="{DISSENT}"]').count() == 0
        syncer.sync(AUTO)
        assert replica.listed(AUTO, [SignalText(DISSENT)]) == set()
        assert replica.listed(AUTO, [SignalText(FLOOD)]) == {FLOOD}
    with seeded.client("operator") as op:
        last = op.actions()[0]
    assert (last.action, last.reason) == ("retract", "two platforms found it not violating")


def test_a_revoke_from_the_partners_view_cuts_the_partner_off(
    context: BrowserContext, console: RunningConsole, seeded: Seeded
) -> None:
    page = _signed_in(context, console)
    page.click('nav a[href="/partners"]')
    yubo = page.locator('[data-partner="yubo"]')
    grant = yubo.locator(f'tr[data-list="{REVIEW}"] form')
    grant.locator('input[name="reason"]').fill("contract ended")
    grant.locator("button").click()
    assert "may no longer read" in page.locator(".flash.done").inner_text()
    with seeded.client("yubo") as client, pytest.raises(PermissionDeniedError):
        client.checkpoint(REVIEW)

    certificate = page.locator('[data-partner="yubo"] form[action="/partners/revoke-certificate"]')
    certificate.locator('input[name="reason"]').fill("key compromised")
    certificate.locator("button").click()
    assert "revoked" in page.locator(".flash.done").inner_text()
    assert page.locator('[data-partner="yubo"] [data-field="revoked"]').count() == 1
    with seeded.client("yubo") as client, pytest.raises(UnauthenticatedError):
        client.checkpoint(AUTO)
    with seeded.client("facebook") as client:
        assert client.checkpoint(AUTO)  # the others are not affected


def test_a_case_is_approved_and_another_rejected_with_a_reason(
    context: BrowserContext, console: RunningConsole, seeded: Seeded
) -> None:
    page = _signed_in(context, console)
    page.click('nav a[href="/cases"]')
    first, second = seeded.queued
    page.locator(f'tr[data-case="{first}"] form:has(input[value="approve"]) button').click()
    assert f"case {first} is listed" in page.locator(".flash.done").inner_text()
    reject = page.locator(f'tr[data-case="{second}"] form:has(input[value="reject"])')
    reject.locator('input[name="reason"]').fill("not an intimate image")
    reject.locator("button").click()
    assert f"case {second} is rejected" in page.locator(".flash.done").inner_text()
    assert page.locator("tr[data-case]").count() == 1  # only the withdrawn one is left


def test_a_browser_without_the_login_is_refused(
    context: BrowserContext, console: RunningConsole
) -> None:
    page = context.new_page()
    for view in VIEWS:
        response = page.goto(f"{console.url}/{view}")
        assert response is not None
        assert response.status == 401
        assert "login link" in page.inner_text("main")
    page.goto(console.login_url)  # the link works once ...
    assert context.browser is not None
    other = context.browser.new_context()
    response = other.new_page().goto(console.login_url)  # ... and only once
    assert response is not None
    assert response.status == 401
    other.close()


def _serious(page: Page, axe_source: str) -> list[dict[str, Any]]:
    page.evaluate(axe_source)
    report: dict[str, Any] = page.evaluate("axe.run(document)")
    assert len(report["passes"]) > 10
    return [
        {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in report["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_axe_finds_nothing_serious_and_the_keyboard_reaches_every_action(
    context: BrowserContext, console: RunningConsole, axe_source: str
) -> None:
    page = _signed_in(context, console)
    for view in VIEWS:
        page.goto(f"{console.url}/{view}")
        assert _serious(page, axe_source) == [], view  # page.evaluate is not bound by the CSP
    page.goto(f"{console.url}/review")
    page.focus("body")
    reached = set()
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.textContent.trim()"))
    assert {"Retract", "Dismiss", "Sign out"} <= reached
