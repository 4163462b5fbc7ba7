"""The intake service over HTTP(S), in front of a real hub over mTLS: what a person's
browser sends and is told, and what is never kept."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from hashlist.cases import CasePolicy, PolicyMode
from hashlist.cli.demo import wait_until
from server.intake.config import IntakeConfig
from server.intake.serve import running_intake
from server.serve import RunningHub
from tests.support import client, hub_config, hub_running

LIST = "takeitdown"
MD5 = [f"md5:{i:032x}" for i in range(1, 30)]
AGENT = "Mozilla/5.0 (a person's phone) test-agent-7f3a"


@dataclass
class Answer:
    status: int
    body: Any
    headers: http.client.HTTPMessage


@dataclass
class Intake:
    url: str
    hub: RunningHub
    folder: Path

    def call(
        self, method: str, path: str, body: object = None, *, pin: str = "",
        raw: bytes | None = None, content_type: str = "application/json",
    ) -> Answer:  # fmt: skip
        host, port = self.url.split("//")[1].rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        headers = {"User-Agent": AGENT}
        if pin:
            headers["Authorization"] = f"PIN {pin}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            headers["Content-Type"] = content_type
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        conn.close()
        parsed = json.loads(payload) if "json" in response.getheader("Content-Type", "") else None
        return Answer(response.status, parsed, response.headers)


def intake_config(pki: Path, hub_port: int, **overrides: Any) -> IntakeConfig:
    fields: dict[str, Any] = {
        "hub": f"127.0.0.1:{hub_port}", "hub_ca": pki / "ca.pem", "cert": pki / "intake.pem",
        "key": pki / "intake.key", "list_id": LIST, "listen": "127.0.0.1:0",
    }  # fmt: skip
    return IntakeConfig(**{**fields, **overrides})


@contextmanager
def hub_with_cases(folder: Path, pki: Path) -> Iterator[RunningHub]:
    config, _ = hub_config(folder, pki)
    with hub_running(config) as running, client(running.port, pki, "operator") as op:
        op.create_list(LIST)
        op.set_case_policy(CasePolicy(LIST, PolicyMode.AUTO, batch_seconds=1))
        yield running


@pytest.fixture
def intake(tmp_path: Path, pki: Path) -> Iterator[Intake]:
    with (
        hub_with_cases(tmp_path / "hub", pki) as hub,
        running_intake(intake_config(pki, hub.port)) as running,
    ):
        yield Intake(running.url, hub, tmp_path)


def test_a_person_opens_follows_and_withdraws_a_case(intake: Intake) -> None:
    opened = intake.call("POST", "/v1/cases", {"signals": [MD5[0], MD5[1].upper(), MD5[0]]})
    assert opened.status == 201, opened.body
    number, pin = opened.body["case"], opened.body["pin"]
    assert opened.body["status"] == "received"
    assert opened.body["signals"] == 2  # de-duplicated, case-folded
    wait_until(lambda: intake.call("GET", f"/v1/cases/{number}", pin=pin).body["status"]
               == "listed", 10, "the batch")  # fmt: skip
    listed = intake.call("GET", f"/v1/cases/{number.lower()}", pin=pin.replace("-", " "))
    assert listed.status == 200
    assert listed.body["version"] >= 1
    assert intake.hub.hub.store.listed(LIST, MD5[:2]) == set(MD5[:2])

    withdrawn = intake.call("POST", f"/v1/cases/{number}/withdraw", {}, pin=pin)
    assert withdrawn.status == 200
    assert withdrawn.body["status"] == "withdrawn"
    assert withdrawn.body["withdrawn_version"] > listed.body["version"]
    assert not intake.hub.hub.store.listed(LIST, MD5[:2])


def test_a_wrong_or_missing_pin_is_told_plainly(intake: Intake) -> None:
    opened = intake.call("POST", "/v1/cases", {"signals": MD5[2:3]})
    number = opened.body["case"]
    wrong = "00000-00000" if opened.body["pin"] != "00000-00000" else "11111-11111"
    for answer in (intake.call("GET", f"/v1/cases/{number}", pin=wrong),
                   intake.call("GET", "/v1/cases/ZZZZ-ZZZZ-ZZZZ", pin=wrong)):  # fmt: skip
        assert answer.status == 401
        assert answer.body["error"]["message"] == "The case number or the PIN is not right."
    missing = intake.call("GET", f"/v1/cases/{number}")
    assert missing.status == 401
    assert "Authorization: PIN" in missing.body["error"]["message"]
    bad = intake.call("GET", "/v1/cases/not-a-number", pin=wrong)
    assert bad.status == 400
    assert "12 letters and digits" in bad.body["error"]["message"]
    for _ in range(4):  # five wrong in a row lock the case, even for the right PIN
        intake.call("GET", f"/v1/cases/{number}", pin=wrong)
    locked = intake.call("GET", f"/v1/cases/{number}", pin=opened.body["pin"])
    assert locked.status == 429
    assert "locked" in locked.body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "raw", "content_type", "status", "says"),
    [
        ({"signals": []}, None, "application/json", 400, "1 to 100"),
        ({"signals": MD5[:1], "name": "x"}, None, "application/json", 400, "nothing else"),
        ({"signals": ["md5:xyz"]}, None, "application/json", 400, "md5"),
        ({"signals": [7]}, None, "application/json", 400, "signals[0]"),
        ({"signals": ["md5:" + "0" * 5000]}, None, "application/json", 400, "signals[0]"),
        (
            {"signals": [f"md5:{i:032x}" for i in range(1, 102)]},
            None,
            "application/json",
            400,
            "1 to 100",
        ),
        (None, b"{not json", "application/json", 400, "not JSON"),
        (None, b"[" * 100_000 + b"]" * 100_000, "application/json", 413, "at most"),
        (None, b"signals=md5", "application/x-www-form-urlencoded", 415, "application/json"),
    ],
)
def test_malformed_bodies_get_a_4xx_with_a_message(  # noqa: PLR0917 - the parameters
    intake: Intake, body: object, raw: bytes | None, content_type: str, status: int, says: str
) -> None:
    answer = intake.call("POST", "/v1/cases", body, raw=raw, content_type=content_type)
    assert answer.status == status, answer.body
    assert says in answer.body["error"]["message"]
    assert "Traceback" not in answer.body["error"]["message"]


def _raw_exchange(url: str, data: bytes) -> bytes:
    host, port = url.split("//")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(data)
        received = b""
        while chunk := conn.recv(65536):  # until the server closes the connection
            received += chunk
    return received


def test_an_unread_body_ends_the_connection(intake: Intake) -> None:
    """No second request hides in a body the server did not read (request smuggling)."""
    hidden = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"
    for path in (b"/nope", b"/v1/cases/ZZZZ-ZZZZ-ZZZZ", b"/"):
        method = b"POST" if path == b"/nope" else b"GET"
        request = (
            method + b" " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: "
            b"application/json\r\nContent-Length: %d\r\n\r\n" % len(hidden) + hidden
        )
        received = _raw_exchange(intake.url, request)
        assert received.count(b"HTTP/1.1 ") == 1, received[:300]


def test_a_content_length_of_thousands_of_digits_is_a_413(intake: Intake) -> None:
    request = (
        b"POST /v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n"
    )
    received = _raw_exchange(intake.url, request)
    assert received.startswith(b"HTTP/1.1 413"), received[:200]


def test_every_answer_is_locked_down_and_sets_no_cookie(intake: Intake) -> None:
    for answer in (intake.call("POST", "/v1/cases", {"signals": MD5[3:4]}),
                   intake.call("GET", "/"), intake.call("GET", "/nothing-here")):  # fmt: skip
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert "Set-Cookie" not in answer.headers
    assert intake.call("DELETE", "/v1/cases").status == 405


def test_no_address_or_user_agent_is_kept_or_logged(
    intake: Intake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    opened = intake.call("POST", "/v1/cases", {"signals": MD5[4:6]})
    number, pin = opened.body["case"], opened.body["pin"]
    intake.call("GET", f"/v1/cases/{number}", pin="99999-99999")
    wait_until(lambda: intake.call("GET", f"/v1/cases/{number}", pin=pin).body["status"]
               == "listed", 10, "the batch")  # fmt: skip
    intake.call("POST", f"/v1/cases/{number}/withdraw", {}, pin=pin)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert number in logged  # the log does say what happened
    for trace in ("127.0.0.1", AGENT, "test-agent", pin, pin.replace("-", "")):
        assert trace not in logged
    stored = b"".join(p.read_bytes() for p in (intake.folder / "hub").glob("hub.db*"))
    for trace in (b"127.0.0.1", AGENT.encode(), pin.encode(), pin.replace("-", "").encode()):
        assert trace not in stored


def test_too_many_requests_from_one_client_are_refused(tmp_path: Path, pki: Path) -> None:
    with (
        hub_with_cases(tmp_path / "hub", pki) as hub,
        running_intake(intake_config(pki, hub.port, cases_per_hour=2)) as running,
    ):
        person = Intake(running.url, hub, tmp_path)
        statuses = [person.call("POST", "/v1/cases", {"signals": [m]}).status for m in MD5[6:9]]
        assert statuses == [201, 201, 429]
        refused = person.call("POST", "/v1/cases", {"signals": MD5[9:10]})
        assert refused.headers["Retry-After"]
        assert "wait" in refused.body["error"]["message"]


def test_a_hub_that_cannot_be_reached_is_a_503_and_the_intake_not_ready(
    tmp_path: Path, pki: Path
) -> None:
    config = intake_config(pki, 1, hub_timeout_seconds=0.5,  # nothing listens on port 1
                           metrics_listen="127.0.0.1:0")  # fmt: skip
    with running_intake(config) as running:
        assert running.probes is not None
        probes = Intake(running.probes.url, None, tmp_path)  # type: ignore[arg-type]
        assert probes.call("GET", "/readyz").status == 200  # no call has failed yet
        person = Intake(running.url, None, tmp_path)  # type: ignore[arg-type]
        answer = person.call("POST", "/v1/cases", {"signals": MD5[:1]})
        assert answer.status == 503
        assert "try" in answer.body["error"]["message"]
        assert probes.call("GET", "/readyz").status == 503
        metrics = urllib.request.urlopen(f"{running.probes.url}/metrics").read().decode()
        assert 'hashlist_intake_answers_total{route="/v1/cases",status="503"} 1.0' in metrics


def test_https_with_the_configured_certificate(tmp_path: Path, pki: Path) -> None:
    with hub_with_cases(tmp_path / "hub", pki) as hub:
        config = intake_config(pki, hub.port, listen="127.0.0.1:0", tls_cert=pki / "hub.pem",
                               tls_key=pki / "hub.key")  # fmt: skip
        with running_intake(config) as running:
            assert running.url.startswith("https://")
            port = int(running.url.rsplit(":", 1)[1])
            context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
            conn = http.client.HTTPSConnection("localhost", port, context=context, timeout=10)
            conn.request("GET", "/openapi.json")
            response = conn.getresponse()
            assert response.status == 200
            assert response.getheader("Strict-Transport-Security")
            assert json.loads(response.read())["openapi"].startswith("3.1")
            conn.close()


def test_a_public_address_without_tls_is_refused(pki: Path) -> None:
    from hashlist.errors import ConfigError

    with pytest.raises(ConfigError, match="not loopback"):
        replace(intake_config(pki, 1), listen="0.0.0.0:8443")
