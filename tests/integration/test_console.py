"""The operator's console over HTTP against a real, seeded hub: who gets in (the
one-time link, the session cookie, Host, CSRF and Origin), what an action does at
the hub (its audit trail), and the refusals a person can act on."""

from __future__ import annotations

import http.client
import io
import re
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from hashlist.errors import ConfigError
from server.console.serve import RunningConsole
from tests.console_support import (
    AUTO,
    DISSENT,
    Seeded,
    console_config,
    console_for,
    seeded_hub,
)

PAGES = ("/lists", f"/lists/{AUTO}", "/partners", "/cases", "/review", "/matches", "/actions")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, pki: Path) -> Iterator[Seeded]:
    with seeded_hub(tmp_path_factory.mktemp("console"), pki, int(time.time())) as s:
        yield s


@pytest.fixture
def console(seeded: Seeded) -> Iterator[RunningConsole]:
    with console_for(seeded) as running:
        yield running


class Browserless:
    """A client of the console at the HTTP level, keeping the session cookie."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = str(parts.hostname), int(parts.port or 80)
        self.cookie = ""

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], str]:  # fmt: skip
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        sent = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        if self.cookie:
            sent.setdefault("Cookie", self.cookie)
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        got = {k.lower(): v for k, v in response.getheaders()}
        if "set-cookie" in got:
            self.cookie = got["set-cookie"].split(";", 1)[0]
        text = data.decode() if "text/" in got.get("content-type", "") else ""
        return response.status, got, text

    def login(self, login_url: str) -> str:
        status, headers, _ = self.request("GET", login_url.split(str(self.port), 1)[1])
        assert status == 303, status
        return headers["set-cookie"]

    def csrf(self) -> str:
        _, _, page = self.request("GET", "/lists")
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found is not None
        return found.group(1)


def test_without_the_login_every_page_and_action_is_refused(console: RunningConsole) -> None:
    web = Browserless(console.url)
    for path in PAGES:
        status, headers, page = web.request("GET", path)
        assert status == 401, path
        assert "login link" in page
        assert "set-cookie" not in headers
    status, _, _ = web.request("POST", "/partners/grant", {"list_id": AUTO, "partner": "x"})
    assert status == 401
    web.cookie = "hashlist_console=guessed"
    assert web.request("GET", "/lists")[0] == 401


def test_the_login_link_works_once_and_sets_a_strict_http_only_cookie(
    console: RunningConsole,
) -> None:
    web = Browserless(console.url)
    cookie = web.login(console.login_url)
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback: a Secure cookie would not return
    for path in PAGES:
        status, headers, _ = web.request("GET", path)
        assert status == 200, path
        assert "script-src" not in headers["content-security-policy"]  # no script at all
        assert "default-src 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
    again = Browserless(console.url)
    status, _, page = again.request("GET", console.login_url.split(str(again.port), 1)[1])
    assert status == 401
    assert "works once" in page


def test_another_host_name_is_refused_dns_rebinding(console: RunningConsole) -> None:
    web = Browserless(console.url)
    web.login(console.login_url)
    status, _, _ = web.request("GET", "/lists", headers={"Host": f"evil.example:{web.port}"})
    assert status == 403


def test_an_action_needs_the_sessions_csrf_token_and_the_same_origin(
    console: RunningConsole, seeded: Seeded
) -> None:
    web = Browserless(console.url)
    web.login(console.login_url)
    token = web.csrf()
    form = {"list_id": AUTO, "signal": DISSENT, "reason": "checked by the operator"}
    assert web.request("POST", "/review/dismiss", form)[0] == 403  # no token
    assert web.request("POST", "/review/dismiss", {**form, "csrf": "forged"})[0] == 403
    cross = {"Origin": "https://evil.example"}
    assert web.request("POST", "/review/dismiss", {**form, "csrf": token}, cross)[0] == 403
    site = {"Sec-Fetch-Site": "cross-site"}
    assert web.request("POST", "/review/dismiss", {**form, "csrf": token}, site)[0] == 403
    with seeded.client("operator") as op:
        assert not any(a.action == "dismiss review" for a in op.actions())  # nothing done
    own = {"Origin": console.url}
    status, headers, _ = web.request("POST", "/review/dismiss", {**form, "csrf": token}, own)
    assert (status, headers["location"]) == (303, "/review")
    _, _, page = web.request("GET", "/review")
    assert "dismissed: off the queue" in page  # the outcome, shown once
    assert DISSENT not in page
    assert "dismissed: off the queue" not in web.request("GET", "/review")[2]
    with seeded.client("operator") as op:
        last = op.actions()[0]
    assert (last.who, last.action, last.reason) == ("operator", "dismiss review",
                                                    "checked by the operator")  # fmt: skip


def test_a_refused_action_says_why_in_words(console: RunningConsole) -> None:
    web = Browserless(console.url)
    web.login(console.login_url)
    token = web.csrf()
    form = {"csrf": token, "list_id": AUTO, "partner": "facebok", "reason": ""}
    assert web.request("POST", "/partners/grant", form)[0] == 303
    page = web.request("GET", "/partners")[2]
    assert "facebok" in page
    assert "invalid argument" in page
    status, _, page = web.request("GET", "/lists/no-such-list")
    assert status == 404
    assert "no-such-list" in page
    assert "Traceback" not in page
    status, _, page = web.request("GET", "/actions?before=x")
    assert status == 400
    assert "whole number" in page
    status, _, _ = web.request("POST", "/partners/grant", headers={"Content-Type": "text/x"})
    assert status == 415


def test_the_audit_bundle_downloads_as_a_verifiable_folder(console: RunningConsole) -> None:
    web = Browserless(console.url)
    web.login(console.login_url)
    status, headers, _ = web.request("GET", f"/lists/{AUTO}/bundle.tar.gz")
    assert status == 200
    assert headers["content-type"] == "application/gzip"
    conn = http.client.HTTPConnection(web.host, web.port)
    conn.request("GET", f"/lists/{AUTO}/bundle.tar.gz",
                 headers={"Cookie": web.cookie, "Host": f"{web.host}:{web.port}"})  # fmt: skip
    data = conn.getresponse().read()
    conn.close()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
    assert f"{AUTO}-audit-bundle/MANIFEST" in names
    assert f"{AUTO}-audit-bundle/leaves.bin" in names


def test_the_console_listens_on_loopback_only(seeded: Seeded) -> None:
    with pytest.raises(ConfigError, match="not loopback"):
        console_config(seeded, listen="0.0.0.0:7395")


def test_a_head_request_does_not_spend_the_login_link(console: RunningConsole) -> None:
    web = Browserless(console.url)
    path = console.login_url.split(str(web.port), 1)[1]
    assert web.request("HEAD", path)[0] == 400
    assert web.request("GET", path)[0] == 303  # still good for the browser


def test_a_decision_is_approve_or_reject_and_nothing_else(
    console: RunningConsole, seeded: Seeded
) -> None:
    web = Browserless(console.url)
    web.login(console.login_url)
    form = {"csrf": web.csrf(), "number": seeded.queued[0], "decision": "bogus"}
    assert web.request("POST", "/cases/decide", form)[0] == 303
    assert "approve or reject" in web.request("GET", "/cases")[2]
    with seeded.client("operator") as op:
        view, _ = op.show_case(seeded.queued[0])
    assert view.state.value == "received"
