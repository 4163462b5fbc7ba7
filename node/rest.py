"""The Matcher's JSON API over HTTP: for platforms that do not speak gRPC.

``serving_rest(matcher, listen, ...)`` serves on ``listen`` (port 0 picks one):

- ``POST /v1/check``: one ``CheckRequest`` object, answered by a ``CheckResponse``;
- ``POST /v1/check-batch``: ``{"items": [...]}`` (1 to ``MAX_BATCH_ITEMS``),
  answered by ``{"answers": [...]}`` in the items' order, each a ``result`` or
  that item's own ``error`` (a malformed item too: the others are answered);
- ``POST /v1/verdict``: ``{"report_id", "verdict"}``, answered by ``{"verdict_id"}``;
- ``GET /openapi.json``: the document (``node.openapi``).

The same ``Matcher`` calls and error table as the gRPC service, served by
``hashlist.jsonhttp`` (errors, limits, TLS handshakes: its invariants).

Invariants: without ``tls`` it binds loopback only (``node.config`` checks);
with ``tls`` every connection must present a client certificate from the
platform's CA.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hashlist.errors import HashlistError, InputError
from hashlist.jsonhttp import (
    JsonServer,
    Request,
    Response,
    Route,
    json_response,
    server_tls_context,
    serving_json,
)
from hashlist.model import MAX_BATCH_ITEMS, CheckQuery, CheckResult, ItemError
from node.config import MatcherTLS
from node.jsonwire import error_to_json, fields, query_from_json, result_to_json
from node.matcher import Matcher
from node.openapi import document
from node.service import checked_batch, item_error

log = logging.getLogger(__name__)


class _Api:
    """The routes' handlers, over one Matcher."""

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher

    def routes(self) -> list[Route]:
        return [
            Route("POST", "/v1/check", self.check, json_body=True),
            Route("POST", "/v1/check-batch", self.batch, json_body=True),
            Route("POST", "/v1/verdict", self.verdict, json_body=True),
            Route("GET", "/openapi.json", lambda _: json_response(200, document())),
        ]

    def check(self, request: Request) -> Response:
        (answer,) = self.matcher.check_many([query_from_json(request.json())])
        if isinstance(answer, HashlistError):
            raise answer
        return json_response(200, result_to_json(answer))

    def batch(self, request: Request) -> Response:
        items = fields(request.json(), "the request", {"items"}).get("items")
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH_ITEMS:
            raise InputError(f"items must be a list of 1 to {MAX_BATCH_ITEMS:,} check requests")
        parsed: list[CheckQuery | ItemError] = []
        for i, item in enumerate(items):
            try:
                parsed.append(query_from_json(item, f"item {i}"))
            except InputError as e:
                parsed.append(item_error(e, f"HTTP check-batch item {i}"))
        queries = [q for q in parsed if isinstance(q, CheckQuery)]
        checked = iter(checked_batch(self.matcher, queries, lambda: True) if queries
                       else ())  # fmt: skip
        answers = []
        for i, item in enumerate(parsed):
            answer = item if isinstance(item, ItemError) else next(checked)[1]
            answers.append({"index": i, **_answer_json(answer)})
        return json_response(200, {"answers": answers})

    def verdict(self, request: Request) -> Response:
        obj = fields(request.json(), "the request", {"report_id", "verdict"})
        report_id, verdict = obj.get("report_id"), obj.get("verdict")
        if not isinstance(report_id, str) or not isinstance(verdict, str):
            raise InputError("report_id and verdict must both be strings")
        verdict_id = self.matcher.verdict(report_id, verdict).verdict_id
        return json_response(200, {"verdict_id": verdict_id})


def _answer_json(answer: CheckResult | ItemError) -> dict[str, Any]:
    if isinstance(answer, ItemError):
        return {"error": error_to_json(answer)}
    return {"result": result_to_json(answer)}


def tls_context(tls: MatcherTLS) -> ssl.SSLContext:
    return server_tls_context(tls.cert, tls.key, tls.client_ca, "Matcher")


@contextmanager
def serving_rest(
    matcher: Matcher,
    listen: str,
    *,
    tls: MatcherTLS | None = None,
    max_body: int = 16 * 1024 * 1024,
    max_connections: int = 1024,
    handshake_timeout: float = 10.0,
    idle_timeout: float = 60.0,
) -> Iterator[str | None]:
    """Serve the JSON API on ``listen``; yields its base URL (None for an empty ``listen``)."""
    if not listen:
        yield None
        return
    context = tls_context(tls) if tls is not None else None
    routes = _Api(matcher).routes()

    def make(address: tuple[str, int]) -> JsonServer:
        return JsonServer(address, routes, context, max_body=max_body,
                          max_connections=max_connections, handshake_timeout=handshake_timeout,
                          idle_timeout=idle_timeout, operator="node's operator")  # fmt: skip

    with serving_json(listen, "http_listen", make) as (_, url):
        log.info("JSON API on %s (POST /v1/check, /v1/check-batch, /v1/verdict)%s", url,
                 " with client certificates" if context else "")  # fmt: skip
        yield url
