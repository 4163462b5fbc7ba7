"""The OpenAPI 3.1 document of the Matcher's JSON API (``GET /openapi.json``).

Built from the schemas ``node.jsonwire`` validates against, so the document
and the server cannot describe two different APIs. Every operation lists the
answers it can give: 200 with its body, and 4xx/5xx with the one error body
(``{"error": {"code", "message"}}``). A platform can generate a client from
it; the tests fuzz the running server against it.
"""

from __future__ import annotations

from typing import Any

from hashlist import __version__
from hashlist.model import MAX_BATCH_ITEMS, VERDICTS
from node.jsonwire import CHECK_REQUEST, CHECK_RESPONSE, ERROR, MATCH


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "the request is not valid; the message says why",
        404: "no such report on this node",
        405: "method not allowed",
        408: "the body did not arrive in time",
        411: "a Content-Length header is required",
        413: "the body is larger than the node accepts",
        415: "the body is not application/json",
        503: "the node is stopping or at capacity; try again",
    }
    body = _json({"type": "object", "required": ["error"], "properties": {"error": _ref("Error")}})
    return {str(c): {"description": reasons[c], "content": body} for c in codes}


def _post(summary: str, request: str, response: dict[str, Any], *extra: int) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": _json(_ref(request))},
            "responses": {
                "200": {"description": "the answer", "content": _json(response)},
                **_errors(400, 408, 411, 413, 415, 503, *extra),
            },
        }
    }


BATCH_ANSWER: dict[str, Any] = {
    "type": "object",
    "required": ["index"],
    "description": "One item's answer: `result`, or `error` for that item alone.",
    "properties": {
        "index": {"type": "integer", "minimum": 0},
        "result": _ref("CheckResponse"),
        "error": _ref("Error"),
    },
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hashlist node Matcher",
            "version": __version__,
            "description": "Check content against the lists this node follows, in JSON. "
            "The same operations as the gRPC Matcher service (hashlist/v1/hashlist.proto).",
        },
        "paths": {
            "/v1/check": _post("Check one content", "CheckRequest", _ref("CheckResponse")),
            "/v1/check-batch": _post(
                f"Check up to {MAX_BATCH_ITEMS:,} contents; answers in the items' order",
                "CheckBatchRequest",
                {
                    "type": "object",
                    "required": ["answers"],
                    "properties": {"answers": {"type": "array", "items": _ref("BatchAnswer")}},
                },
            ),
            "/v1/verdict": _post(
                "Record your decision on a reported match",
                "VerdictRequest",
                {
                    "type": "object",
                    "required": ["verdict_id"],
                    "properties": {"verdict_id": {"type": "string"}},
                },
                404,
            ),
        },
        "components": {
            "schemas": {
                "CheckRequest": CHECK_REQUEST,
                "CheckResponse": CHECK_RESPONSE,
                "Match": MATCH,
                "Error": ERROR,
                "BatchAnswer": BATCH_ANSWER,
                "CheckBatchRequest": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["items"],
                    "properties": {
                        "items": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_BATCH_ITEMS,
                            "items": _ref("CheckRequest"),
                        }
                    },
                },
                "VerdictRequest": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["report_id", "verdict"],
                    "properties": {
                        "report_id": {"type": "string", "maxLength": 64},
                        "verdict": {"type": "string", "enum": list(VERDICTS)},
                    },
                },
            }
        },
    }
