"""The Matcher for a platform's fleet: batch checks, mutual TLS on TCP, the JSON API.

Over the real hub and replica of ``test_matching``'s rig: every answer given
by ``CheckBatch``, by the TLS listener and by the REST API must be the one a
single local gRPC ``Check`` gives for the same query.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hashlist.client import ClientTLS
from hashlist.errors import InputError, UnavailableError
from hashlist.hashing import hash_bytes
from hashlist.model import MAX_BATCH_ITEMS, CheckQuery, CheckResult, ItemError
from hashlist.synthetic import edited_copy, synthetic_image
from node.config import MatcherTLS
from node.jsonwire import result_to_json
from node.rest import serving_rest
from node.service import MatcherAddresses, MatcherClient, running_matcher
from tests.integration.test_matching import Rig, listed_images, rig
from tests.support import platform_pki

__all__ = ["rig"]  # the fixture, shared with test_matching


def near(pdq: str, bits: int) -> str:
    """``pdq`` with its last ``bits`` bits flipped."""
    value = int(pdq, 16) ^ ((1 << bits) - 1)
    return f"pdq:{value:064x}"


def queries(images: list[bytes]) -> list[CheckQuery]:
    h0, h1 = hash_bytes(images[0]), hash_bytes(images[1])
    assert h0.pdq is not None
    assert h1.pdq is not None
    return [
        CheckQuery(signals=(near(h0.pdq, 5),), report=False),  # near
        CheckQuery(signals=(f"md5:{h1.md5}",), report=False),  # exact
        CheckQuery(signals=("pdq:" + "ab" * 32,), report=False),  # a miss
        CheckQuery(signals=("md5:zz",), report=False),  # not a signal: that item's error
        CheckQuery(content=edited_copy(synthetic_image(1)), report=False),  # bytes
        CheckQuery(signals=(near(h0.pdq, 20),), pdq_quality=10, report=False),  # low quality
        CheckQuery(report=False),  # neither: that item's error
    ]


def single(client: MatcherClient, q: CheckQuery) -> CheckResult | str:
    try:
        return client.check(content=q.content or b"", signals=q.signals,
                            pdq_quality=q.pdq_quality, content_id=q.content_id,
                            report=q.report)  # fmt: skip
    except InputError as e:
        return str(e).rpartition("invalid argument: ")[2]


def comparable(answer: CheckResult | ItemError) -> CheckResult | str:
    if isinstance(answer, ItemError):
        assert answer.code == "INVALID_ARGUMENT"
        return answer.message.rpartition("invalid argument: ")[2]
    return answer


@pytest.fixture
def served(rig: Rig) -> Iterator[MatcherAddresses]:
    with running_matcher(rig.node.matcher, f"unix:{rig.tmp / 'm.sock'}",
                         max_message_bytes=1 << 24) as addresses:  # fmt: skip
        yield addresses


def test_a_batch_answers_each_item_as_a_single_check_would(
    rig: Rig, served: MatcherAddresses
) -> None:
    asked = queries(listed_images(rig, range(2)))
    with MatcherClient(served.local) as client:
        batch = [comparable(a) for a in client.check_batch(asked)]
        singles = [single(client, q) for q in asked]
    assert batch == singles
    assert [bool(getattr(a, "matches", ())) for a in batch] == [1, 1, 0, 0, 1, 0, 0]
    assert "not hexadecimal" in str(batch[3])


def test_a_batch_reports_each_content_and_hash_once(rig: Rig, served: MatcherAddresses) -> None:
    h = hash_bytes(listed_images(rig, range(1))[0])
    assert h.pdq is not None
    same = CheckQuery(signals=(near(h.pdq, 3),), content_id="upload-7")
    with MatcherClient(served.local) as client:
        answers = list(client.check_batch([same, same, same]))
        later = client.check(signals=same.signals, content_id="upload-7")
    ids = {m.report_id for a in answers if isinstance(a, CheckResult) for m in a.matches}
    assert len(ids) == 1
    assert ids == {m.report_id for m in later.matches}
    assert rig.node.matcher.outbox.backlog() == 1


def test_a_long_mixed_batch_keeps_order_report_ids_and_errors_across_chunks(
    rig: Rig, served: MatcherAddresses
) -> None:
    h = hash_bytes(listed_images(rig, range(1))[0])
    assert h.pdq is not None
    bad = {255, 256, 511}
    asked = [
        CheckQuery(signals=("md5:zz",)) if i in bad
        else CheckQuery(signals=(near(h.pdq, 1 + i % 20),), content_id=f"c{i % 7}",
                        report=i % 3 != 0)
        for i in range(600)
    ]  # fmt: skip
    with MatcherClient(served.local) as client:
        batch = list(client.check_batch(asked))
        again = [single(client, q) for q in asked]  # the same content ids: the same reports
    assert len(batch) == 600
    assert {i for i, a in enumerate(batch) if isinstance(a, ItemError)} == bad
    assert [comparable(a) for a in batch] == again
    reported = {m.report_id for a in batch if isinstance(a, CheckResult) for m in a.matches}
    assert "" in reported  # dry runs answer without a report id ...
    assert len(reported - {""}) == 7  # ... and each content id reported once


def test_content_and_signals_together_are_refused(served: MatcherAddresses) -> None:
    with MatcherClient(served.local) as client, pytest.raises(InputError, match="not both"):
        client.check(content=b"bytes", signals=["md5:" + "0" * 32])


def test_a_batch_has_one_to_ten_thousand_items(served: MatcherAddresses) -> None:
    too_many = [CheckQuery(signals=("md5:" + "0" * 32,))] * (MAX_BATCH_ITEMS + 1)
    with MatcherClient(served.local) as client:
        with pytest.raises(InputError, match="1 to 10,000 items"):
            list(client.check_batch([]))
        with pytest.raises(InputError, match="got 10,001"):
            list(client.check_batch(too_many))


# --- a fleet over TCP with mutual TLS ---


@pytest.fixture
def platform(tmp_path: Path) -> Path:
    return platform_pki(tmp_path / "platform")


def test_a_fleet_client_with_a_certificate_checks_over_tcp_and_others_are_refused(
    rig: Rig, platform: Path
) -> None:
    asked = queries(listed_images(rig, range(2)))
    tls = MatcherTLS(platform / "matcher.pem", platform / "matcher.key",
                     platform / "ca.pem")  # fmt: skip
    p = platform
    with running_matcher(rig.node.matcher, f"unix:{rig.tmp / 't.sock'}",
                         max_message_bytes=1 << 24, tls=tls,
                         tls_address="127.0.0.1:0") as served:  # fmt: skip
        assert served.tls.startswith("127.0.0.1:")
        fleet = ClientTLS(p / "ca.pem", p / "upload.pem", p / "upload.key")
        with MatcherClient(served.tls, tls=fleet) as remote, MatcherClient(served.local) as local:
            assert [comparable(a) for a in remote.check_batch(asked)] == [
                single(local, q) for q in asked
            ]
        stranger = ClientTLS(p / "ca.pem", p / "stranger.pem", p / "stranger.key")
        with (
            MatcherClient(served.tls, tls=stranger, timeout=5) as refused,
            pytest.raises(UnavailableError),
        ):
            refused.check(signals=asked[0].signals, report=False)
        with (
            MatcherClient(served.tls, timeout=5) as plaintext,  # no TLS at all
            pytest.raises(UnavailableError),
        ):
            plaintext.check(signals=asked[0].signals, report=False)


# --- the JSON API ---


def post(url: str, path: str, body: object, *, context: ssl.SSLContext | None = None,
         raw: bytes | None = None, kind: str = "application/json") -> tuple[int, Any]:  # fmt: skip
    host, _, port = url.split("://")[1].rpartition(":")
    conn: http.client.HTTPConnection
    if context is None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
    else:
        conn = http.client.HTTPSConnection(host, int(port), timeout=10, context=context)
    data = raw if raw is not None else json.dumps(body).encode()
    conn.request("POST", path, data, {"Content-Type": kind})
    answer = conn.getresponse()
    status, text = answer.status, answer.read()
    conn.close()
    return status, json.loads(text)


def as_json(q: CheckQuery) -> dict[str, Any]:
    out: dict[str, Any] = {"report": q.report}
    if q.content is not None:
        out["content"] = base64.b64encode(q.content).decode()
    if q.signals:
        out["signals"] = list(q.signals)
    if q.pdq_quality is not None:
        out["pdq_quality"] = q.pdq_quality
    return out


def test_the_json_api_gives_the_grpc_answers(rig: Rig, served: MatcherAddresses) -> None:
    asked = queries(listed_images(rig, range(2)))
    with serving_rest(rig.node.matcher, "127.0.0.1:0") as url, MatcherClient(served.local) as c:
        assert url is not None
        expected = [single(c, q) for q in asked]
        for q, want in zip(asked, expected, strict=True):
            status, body = post(url, "/v1/check", as_json(q))
            if isinstance(want, str):
                assert (status, body["error"]["code"]) == (400, "INVALID_ARGUMENT")
                assert body["error"]["message"].endswith(want)
            else:
                assert (status, body) == (200, result_to_json(want))
        status, body = post(url, "/v1/check-batch", {"items": [as_json(q) for q in asked]})
        assert status == 200
        assert [a["index"] for a in body["answers"]] == list(range(len(asked)))
        for answer, want in zip(body["answers"], expected, strict=True):
            if isinstance(want, str):
                assert answer["error"]["message"].endswith(want)
            else:
                assert answer["result"] == result_to_json(want)


def test_the_json_api_refuses_bad_requests_with_a_reason(rig: Rig) -> None:
    with serving_rest(rig.node.matcher, "127.0.0.1:0", max_body=4096) as url:
        assert url is not None
        assert post(url, "/v1/check", None, raw=b"{not json")[0] == 400
        status, body = post(url, "/v1/check", {"signals": ["md5:" + "0" * 32], "extra": 1})
        assert status == 400
        assert "unknown key" in body["error"]["message"]
        assert post(url, "/v1/check", {}, kind="text/plain")[0] == 415
        assert post(url, "/v1/check", None, raw=b"[" * 5000)[0] == 413
        assert post(url, "/v1/nothing", {})[0] == 404
        status, body = post(url, "/v1/verdict", {"report_id": "f" * 32, "verdict": "removed"})
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
        host, _, port = url.split("://")[1].rpartition(":")
        hostile = http.client.HTTPConnection(host, int(port), timeout=10)
        hostile.putrequest("POST", "/v1/check")
        hostile.putheader("Content-Type", "application/json")
        hostile.putheader("Content-Length", "\u00b2")  # a digit to str.isdigit, not to int
        hostile.endheaders()
        answer = hostile.getresponse()
        assert (answer.status, json.loads(answer.read())["error"]["code"]) == (
            411, "INVALID_ARGUMENT")  # fmt: skip
        hostile.close()
        unknown = http.client.HTTPConnection(host, int(port), timeout=10)
        unknown.request("BREW", "/v1/check")
        answer = unknown.getresponse()
        assert answer.status == 501
        assert "error" in json.loads(answer.read())  # JSON, like every other answer
        unknown.close()
        status, body = post(url, "/v1/check-batch", {"items": [{"signals": 3}, {"report": 1}]})
        assert status == 200  # the items' own errors, the batch itself is fine
        assert [a["error"]["code"] for a in body["answers"]] == ["INVALID_ARGUMENT"] * 2


def test_the_json_api_over_tls_needs_a_client_certificate(rig: Rig, platform: Path) -> None:
    p = platform
    tls = MatcherTLS(p / "matcher.pem", p / "matcher.key", p / "ca.pem")
    with serving_rest(rig.node.matcher, "127.0.0.1:0", tls=tls) as url:
        assert url is not None
        assert url.startswith("https://")
        context = ssl.create_default_context(cafile=p / "ca.pem")
        context.load_cert_chain(p / "upload.pem", p / "upload.key")
        status, body = post(url, "/v1/check", {"signals": ["md5:" + "0" * 32]}, context=context)
        assert (status, body["matches"]) == (200, [])
        anonymous = ssl.create_default_context(cafile=p / "ca.pem")
        with pytest.raises((ssl.SSLError, ConnectionError)):
            post(url, "/v1/check", {"signals": ["md5:" + "0" * 32]}, context=anonymous)
        stranger = ssl.create_default_context(cafile=p / "ca.pem")
        stranger.load_cert_chain(p / "stranger.pem", p / "stranger.key")
        with pytest.raises((ssl.SSLError, ConnectionError)):
            post(url, "/v1/check", {"signals": ["md5:" + "0" * 32]}, context=stranger)


def test_the_openapi_document_is_served(rig: Rig) -> None:
    with serving_rest(rig.node.matcher, "127.0.0.1:0") as url:
        assert url is not None
        host, _, port = url.split("://")[1].rpartition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/openapi.json")
        doc = json.loads(conn.getresponse().read())
        conn.close()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {"/v1/check", "/v1/check-batch", "/v1/verdict"}
