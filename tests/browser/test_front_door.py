"""The whole front door in a real browser: the page the intake serves hashes a file,
opens a case through the real intake and hub, reads it and withdraws it; a real
node's replica sees the hashes listed, then retracted. Every request is recorded."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request

from hashlist.cases import CasePolicy, PolicyMode
from hashlist.cli.demo import wait_until
from hashlist.clock import SystemClock
from hashlist.signals import SignalText
from hashlist.synthetic import jpeg_bytes, synthetic_image
from node.store import SqliteNodeStore
from node.sync import Syncer
from server.intake.serve import running_intake
from tests.integration.test_intake import intake_config
from tests.support import client, hub_config, hub_running, node_syncer

LIST = "takeitdown"


@dataclass
class FrontDoor:
    url: str
    syncer: Syncer
    replica: SqliteNodeStore

    def node_lists(self, signals: list[str]) -> set[SignalText]:
        self.syncer.sync(LIST)
        return self.replica.listed(LIST, [SignalText(s) for s in signals])


@pytest.fixture
def front_door(tmp_path: Path, pki: Path) -> Iterator[FrontDoor]:
    config, trust = hub_config(tmp_path / "hub", pki)
    with hub_running(config) as hub, client(hub.port, pki, "operator") as op:
        op.create_list(LIST)
        op.grant(LIST, "facebook", new_partner=True)
        op.set_case_policy(CasePolicy(LIST, PolicyMode.AUTO, batch_seconds=1))
        with (
            running_intake(intake_config(pki, hub.port)) as running,
            node_syncer(tmp_path / "node", pki, hub.port, trust, SystemClock()) as (syncer, store),
        ):
            yield FrontDoor(running.url, syncer, store)


def _signals(page: Page, name: str) -> list[str]:
    selector = f'[data-file="{name}"][data-signals]'
    page.wait_for_selector(selector, timeout=60_000)
    return str(page.get_attribute(selector, "data-signals")).split()


def test_a_person_hashes_opens_follows_and_withdraws_a_case(
    browser: Browser, front_door: FrontDoor, tmp_path: Path
) -> None:
    photo = tmp_path / "my photo.jpg"
    photo.write_bytes(jpeg_bytes(synthetic_image(77)))
    raw = photo.read_bytes()
    context = browser.new_context()
    page = context.new_page()
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r))  # noqa: PLW0108 - Playwright tags handlers
    page.goto(f"{front_door.url}/")
    page.wait_for_selector("body[data-ready]")

    page.set_input_files("#file-input", str(photo))
    signals = _signals(page, photo.name)
    assert {s.split(":")[0] for s in signals} == {"pdq", "md5", "sha256"}
    page.click("#submit")
    page.wait_for_selector("[data-case]")
    number = str(page.get_attribute("[data-case]", "data-case"))
    pin = str(page.get_attribute("[data-case]", "data-pin"))

    wait_until(lambda: front_door.node_lists(signals) == set(signals), 30,
               "the node to list the case's hashes", interval=0.5)  # fmt: skip
    page.fill("#case-number", number)
    page.fill("#case-pin", pin)
    page.click("#check")
    page.wait_for_selector('[data-case-status="listed"]')

    page.click("#withdraw")
    page.wait_for_selector('[data-case-status="withdrawn"]', timeout=30_000)
    assert not front_door.node_lists(signals)  # the retraction reached the node

    # What went over the wire: the page's own files, then JSON with hashes only.
    origin = front_door.url
    assert all(r.url.startswith(f"{origin}/") for r in requests), [r.url for r in requests]
    posted = [r for r in requests if r.method == "POST"]
    assert [r.url for r in posted] == [f"{origin}/v1/cases",
                                       f"{origin}/v1/cases/{number}/withdraw"]  # fmt: skip
    sent = json.loads(posted[0].post_data or "")
    assert list(sent) == ["signals"]
    assert set(sent["signals"]) == set(signals)
    sample = raw[len(raw) // 2 : len(raw) // 2 + 48]
    for r in requests:
        body = r.post_data_buffer or b""
        for form in (sample, sample.hex().encode(), base64.b64encode(sample)):
            assert form not in body
    assert context.cookies() == []
    context.close()
