"""The OpenAPI 3.1 document of the intake's API (``GET /openapi.json``).

Every operation lists every answer it can give: its success with its body,
and each 4xx/5xx with the one error body (``{"error": {"code", "message"}}``),
whose message is written for the person using the page. The tests fuzz the
running service against it.
"""

from __future__ import annotations

from typing import Any

from hashlist import __version__
from hashlist.cases import CaseState
from hashlist.signals import SignalKind

# A case names images and videos by their hashes; a video's vpdq is listed by the operator.
_KINDS = [k for k in SignalKind if k is not SignalKind.VPDQ]
_SIGNAL = "^(" + "|".join(f"{k.label}:[0-9a-fA-F]{{{k.hex_digits}}}" for k in _KINDS) + ")$"
_REASONS = {
    400: "the request is not valid; the message says why, in plain words",
    401: "the case number or the PIN is not right, or the PIN is missing",
    404: "no such path",
    405: "method not allowed",
    408: "the body did not arrive in time",
    411: "a Content-Length header is required",
    413: "the body is larger than the service accepts",
    415: "the body is not application/json",
    429: "too many requests from here, or too many wrong PINs for the case: try later",
    503: "the service cannot reach its hub, or takes no cases now: try later",
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _answers(ok: int, *errors: int) -> dict[str, Any]:
    error = {"$ref": "#/components/schemas/Error"}
    out: dict[str, Any] = {str(ok): {"description": "the case", "content": _json(
        {"$ref": "#/components/schemas/OpenedCase" if ok == 201 else "#/components/schemas/Case"}
    )}}  # fmt: skip
    for code in errors:
        out[str(code)] = {"description": _REASONS[code], "content": _json(error)}
    return out


def document(max_signals: int) -> dict[str, Any]:
    required = ["case", "status", "signals", "version", "withdrawn_version"]
    properties: dict[str, Any] = {
        "case": {"type": "string", "description": "the case number, like K7QM-2XHD-9RTB"},
        "status": {"enum": [s.value for s in CaseState]},
        "signals": {"type": "integer", "minimum": 0},
        "version": {
            "type": ["integer", "null"],
            "description": "the list version that listed the case's hashes",
        },
        "withdrawn_version": {
            "type": ["integer", "null"],
            "description": "the version that retracted them",
        },
    }
    case = {"type": "object", "required": required, "properties": properties}
    pin_field = {"type": "string", "pattern": "^[0-9]{5}-[0-9]{5}$",
                 "description": "shown once: the only way back"}  # fmt: skip
    opened = {"type": "object", "required": [*required, "pin"],
              "properties": {**properties, "pin": pin_field}}  # fmt: skip
    number = [{"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}]
    pin: list[dict[str, list[str]]] = [{"pin": []}]
    common = (400, 404, 405, 408, 411, 413, 415, 429, 503)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hashlist intake",
            "version": __version__,
            "description": "Open a case with hashes computed on your device, read it, "
            "withdraw it. No image is ever sent.",
        },
        "paths": {
            "/v1/cases": {
                "post": {
                    "operationId": "openCase",
                    "requestBody": {
                        "required": True,
                        "content": _json(
                            {
                                "type": "object",
                                "required": ["signals"],
                                "additionalProperties": False,
                                "properties": {
                                    "signals": {
                                        "type": "array",
                                        "minItems": 1,
                                        "maxItems": max_signals,
                                        "items": {"type": "string", "pattern": _SIGNAL},
                                    }
                                },
                            }
                        ),
                    },
                    "responses": _answers(201, *common),
                }
            },
            "/v1/cases/{number}": {
                "get": {
                    "operationId": "getCase",
                    "parameters": number,
                    "security": pin,
                    "responses": _answers(200, 401, *common),
                }
            },
            "/v1/cases/{number}/withdraw": {
                "post": {
                    "operationId": "withdrawCase",
                    "parameters": number,
                    "security": pin,
                    "requestBody": {"required": True, "content": _json({"type": "object"})},
                    "responses": _answers(200, 401, *common),
                }
            },
        },
        "components": {
            "securitySchemes": {
                "pin": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "PIN 12345-67890",
                }
            },
            "schemas": {
                "Case": case,
                "OpenedCase": opened,
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                },
            },
        },
    }
