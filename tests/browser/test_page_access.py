"""The page's promises to the person using it, checked in real chromium.

Privacy: while hashing, no request but the page's own files; on Send, one
JSON body of signals with none of the file's bytes, to the page's origin; no
cookies, no storage, the CSP in force. The case flow (send, check, withdraw,
errors) against route-answered API calls. Accessibility (axe-core, keyboard,
a phone screen). And ``write_page``'s handling of the API origin.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from hashlist.errors import InputError
from hashlist.synthetic import jpeg_bytes, synthetic_image
from server.intake.static import PAGE_FILES, page_csp, write_page
from tests.browser.conftest import HashingPage, PageOpener, signals_of

if TYPE_CHECKING:
    from playwright.sync_api import Route

CASE = {"case": "7K2M-Q9XD-3FHT", "pin": "0123456789", "status": "received"}


def _photo(folder: Path, marker: bytes) -> Path:
    """A JPEG with a distinctive trailer (decoders ignore bytes after the image)."""
    path = folder / "photo.jpg"
    path.write_bytes(jpeg_bytes(synthetic_image(7, (320, 240))) + marker)
    return path


def _json_route(status: int, body: dict[str, Any], seen: list[dict[str, Any]]) -> Any:
    def handle(route: Route) -> None:
        request = route.request
        seen.append({"method": request.method, "url": request.url,
                     "headers": request.headers, "body": request.post_data})  # fmt: skip
        route.fulfill(status=status, content_type="application/json", body=json.dumps(body))

    return handle


def test_only_the_signals_leave_the_device(hashing_page: HashingPage, tmp_path: Path) -> None:
    page, origin = hashing_page.page, hashing_page.url.rstrip("/")
    marker = os.urandom(64)
    photo = _photo(tmp_path, marker)
    loaded = len(hashing_page.recorded.requests)
    results = hashing_page.hash_files([photo])
    static = {origin + "/"} | {f"{origin}/{name}" for name in PAGE_FILES}
    during = hashing_page.recorded.requests[loaded:]
    assert all(r.url in static and r.method == "GET" for r in during), [r.url for r in during]

    seen: list[dict[str, Any]] = []
    page.route(f"{origin}/v1/cases", _json_route(201, CASE, seen))
    page.click("#submit")
    page.wait_for_selector("[data-case]")
    signals = results[photo.name]["data-signals"].split()
    [sent] = seen
    assert sent["method"] == "POST"
    assert sent["headers"]["content-type"] == "application/json"
    assert json.loads(sent["body"]) == {"signals": signals}  # quality 100: pdq included
    forms = [marker, marker.hex().encode(), base64.b64encode(marker)]
    for request in hashing_page.recorded.requests:
        body = request.post_data_buffer or b""
        assert not any(form in body for form in forms), request.url
        assert urlsplit(request.url).netloc == urlsplit(origin).netloc, request.url
    assert hashing_page.context.cookies() == []
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    meta = page.get_attribute('meta[http-equiv="Content-Security-Policy"]', "content")
    assert meta == page_csp(meta=True)
    violations = [m.text for m in hashing_page.recorded.console
                  if "Content Security Policy" in m.text or "Refused to" in m.text]  # fmt: skip
    assert violations == []
    assert hashing_page.recorded.errors == []


def test_send_check_withdraw_and_an_error(hashing_page: HashingPage, tmp_path: Path) -> None:
    page, origin = hashing_page.page, hashing_page.url.rstrip("/")
    hashing_page.hash_files([_photo(tmp_path, b"")])
    seen: list[dict[str, Any]] = []
    page.route(f"{origin}/v1/cases", _json_route(201, CASE, seen))
    page.click("#submit")
    page.wait_for_selector("[data-case]")
    receipt = page.locator("[data-case]")
    assert receipt.get_attribute("data-case") == CASE["case"]
    assert receipt.get_attribute("data-pin") == CASE["pin"]
    assert CASE["case"] in receipt.inner_text()
    assert CASE["pin"] in receipt.inner_text()
    assert "only" in receipt.inner_text()  # ... the only way back: write them down
    assert page.is_disabled("#submit")  # sent once; a new choice makes a new case

    number = CASE["case"]
    listed = {"case": number, "status": "listed", "version": 12, "signals": 3}
    page.route(f"{origin}/v1/cases/{number}", _json_route(200, listed, seen))
    page.fill("#case-pin", "0123 456 789")
    page.click("#check")
    page.wait_for_selector('[data-case-status="listed"]')
    check = seen[-1]
    assert (check["method"], check["headers"]["authorization"]) == ("GET", "PIN 0123456789")

    withdrawn = {"case": number, "status": "withdrawn", "version": 12, "signals": 3}
    page.route(f"{origin}/v1/cases/{number}/withdraw", _json_route(200, withdrawn, seen))
    page.click("#withdraw")
    page.wait_for_selector('[data-case-status="withdrawn"]')
    withdraw = seen[-1]
    assert (withdraw["method"], withdraw["body"]) == ("POST", "{}")
    assert withdraw["headers"]["authorization"] == "PIN 0123456789"

    refused = {"error": {"code": "wrong_pin", "message": "That PIN is not right for this case."}}
    page.unroute(f"{origin}/v1/cases/{number}")
    page.route(f"{origin}/v1/cases/{number}", _json_route(403, refused, seen))
    page.click("#check")
    page.wait_for_selector('#check-error[role="alert"][data-error-message]')
    alert = page.locator("#check-error")
    assert alert.inner_text() == "That PIN is not right for this case."


def test_a_refused_submission_shows_the_message(hashing_page: HashingPage, tmp_path: Path) -> None:
    page, origin = hashing_page.page, hashing_page.url.rstrip("/")
    hashing_page.hash_files([_photo(tmp_path, b"")])
    refused = {"error": {"code": "rate_limited", "message": "Too many cases from here today."}}
    page.route(f"{origin}/v1/cases", _json_route(429, refused, []))
    page.click("#submit")
    page.wait_for_selector('[role="alert"][data-error-message]')
    alert = page.locator('[role="alert"][data-error-message]')
    assert alert.get_attribute("data-error-message") == "Too many cases from here today."
    assert page.is_enabled("#submit")  # the person can try again


def _serious(page: HashingPage, axe_source: str) -> list[dict[str, Any]]:
    page.page.evaluate(axe_source)
    report: dict[str, Any] = page.page.evaluate("axe.run(document)")
    assert len(report["passes"]) > 10  # axe ran its rules on the filled-in page
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in report["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_axe_finds_no_serious_violation(
    open_page: PageOpener, axe_source: str, tmp_path: Path
) -> None:
    page = open_page(bypass_csp=True)  # axe is injected; the CSP tests use no bypass
    assert _serious(page, axe_source) == []
    page.hash_files([_photo(tmp_path, b"")])
    page.page.route(f"{page.url}v1/cases", _json_route(201, CASE, []))
    page.page.click("#submit")
    page.page.wait_for_selector("[data-case]")
    assert _serious(page, axe_source) == []


def test_keyboard_reaches_every_control(hashing_page: HashingPage, tmp_path: Path) -> None:
    hashing_page.hash_files([_photo(tmp_path, b"")])  # Send is enabled, hence focusable
    page = hashing_page.page
    page.focus("body")
    reached = []
    for _ in range(20):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id"))
    for control in ("file-input", "submit", "case-number", "case-pin", "check", "withdraw"):
        assert control in reached, reached
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.title()


@pytest.mark.parametrize("step", ["initial", "hashed and sent"])
def test_a_phone_screen_needs_no_sideways_scrolling(
    open_page: PageOpener, tmp_path: Path, step: str
) -> None:
    page = open_page(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    if step != "initial":
        page.hash_files([_photo(tmp_path, b"")])
        page.page.route(f"{page.url}v1/cases", _json_route(201, CASE, []))
        page.page.click("#submit")
        page.page.wait_for_selector("[data-case]")
    assert page.page.evaluate("document.scrollingElement.scrollWidth") <= 360
    for selector in ("label[for=file-input]", "#check", "#withdraw", "#case-number"):
        box = page.page.locator(selector).bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 360, selector
        assert box["height"] >= 40, selector  # a finger-sized target


def test_write_page_puts_the_api_origin_in_the_meta_and_the_policy(tmp_path: Path) -> None:
    written = write_page(tmp_path / "site", "https://intake.example:8443")
    assert sorted(p.name for p in written) == sorted(PAGE_FILES)
    html = (tmp_path / "site" / "index.html").read_text()
    assert '<meta name="hashlist-api" content="https://intake.example:8443">' in html
    assert "connect-src 'self' https://intake.example:8443;" in html
    assert "frame-ancestors" not in html  # ignored in a <meta>; the header carries it
    assert "connect-src 'self' https://intake.example:8443;" in page_csp(
        "https://intake.example:8443"
    )
    same_origin = write_page(tmp_path / "plain")
    assert '<meta name="hashlist-api" content="">' in same_origin[0].read_text()


@pytest.mark.parametrize(
    "bad",
    ["http://intake.example", "https://intake.example/v1", 'https://intake.example"',
     "https://intake.example'; script-src *", "https://user@intake.example",
     "https://intake.example?x=1", "https://intake.example:0", "intake.example",
     "https://intake.example#top", " https://intake.example"],
)  # fmt: skip
def test_write_page_refuses_an_api_base_that_is_not_an_https_origin(
    tmp_path: Path, bad: str
) -> None:
    with pytest.raises(InputError, match="https origin"):
        write_page(tmp_path, bad)
    assert not tmp_path.joinpath("index.html").exists()


def test_signals_of_reads_data_signals() -> None:
    assert signals_of({"data-signals": "md5:ab sha256:cd"}) == {"md5": "ab", "sha256": "cd"}
