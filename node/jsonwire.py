"""JSON at the edge of the Matcher: what the REST API and ``node check --batch`` read and write.

The JSON twin of ``hashlist.wire``: request objects become ``CheckQuery``
values and answers become plain objects, with the field names of the
``.proto`` messages so a platform can switch between gRPC and REST without a
second vocabulary. Parsing is strict and total: an unknown key, a value of
the wrong type or out of range is an ``InputError`` naming the key, never an
exception of another kind, so every bad request is a 400 with a message a
person can act on. The schemas here are the ones ``node.openapi`` publishes;
a test checks that what the parser accepts and what the schemas describe
agree on examples.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping
from typing import Any

from hashlist.errors import InputError
from hashlist.model import CheckQuery, CheckResult, ItemError
from hashlist.vpdq import VpdqFrame

MAX_SIGNALS = 64
"""Signals in one check (as for the gRPC ``Check``)."""
MAX_CONTENT_ID = 1024
"""Characters of a content id: the platform's own id, never a document."""
MAX_VPDQ_FRAMES = 100_000
"""Frames of one video's vPDQ in a check (27 hours at one frame per second)."""

_SIGNAL = {"type": "string", "minLength": 1, "maxLength": 1024,
           "description": "canonical kind:hex, e.g. pdq:<64 hex digits>"}  # fmt: skip

CHECK_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Either `content` (the bytes, hashed on the node), or `signals` "
    "and/or a video's `vpdq` frames.",
    "properties": {
        "content": {
            "type": "string",
            "contentEncoding": "base64",
            "description": "the image's bytes, base64",
        },
        "signals": {"type": "array", "items": _SIGNAL, "maxItems": MAX_SIGNALS},
        "pdq_quality": {"type": "integer", "minimum": 0, "maximum": 100},
        "vpdq": {
            "type": "array",
            "maxItems": MAX_VPDQ_FRAMES,
            "description": "a video's frames as `hashlist hash` prints them: "
            "[frame_number, quality, pdq_hex, timestamp_seconds]",
            "items": {"type": "array", "minItems": 4, "maxItems": 4},
        },
        "content_id": {
            "type": "string",
            "maxLength": MAX_CONTENT_ID,
            "description": "your id for the content; leaves the node only as a keyed hash",
        },
        "report": {
            "type": "boolean",
            "default": True,
            "description": "false: a dry run, nothing is reported to the hub",
        },
    },
}
MATCH: dict[str, Any] = {
    "type": "object",
    "required": ["list_id", "signal", "query_signal", "distance", "version", "report_id"],
    "properties": {
        "list_id": {"type": "string"},
        "signal": {"type": "string", "description": "the listed hash"},
        "query_signal": {"type": "string", "description": "the content's hash it matched"},
        "distance": {"type": "integer", "minimum": 0},
        "version": {"type": "integer", "minimum": 0},
        "report_id": {"type": "string", "description": "empty on a dry run"},
        "query_match_percent": {
            "type": "number",
            "description": "a listed video: share of the query's distinct good frames matched",
        },
        "target_match_percent": {
            "type": "number",
            "description": "a listed video: share of its frames the query matched",
        },
    },
}
CHECK_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": ["matches", "signals", "notes"],
    "properties": {
        "matches": {"type": "array", "items": {"$ref": "#/components/schemas/Match"}},
        "signals": {"type": "array", "items": {"type": "string"}},
        "notes": {"type": "array", "items": {"type": "string"}},
    },
}
ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string", "description": "a gRPC status code name"},
        "message": {"type": "string"},
    },
}


def query_from_json(value: object, where: str = "the request") -> CheckQuery:
    """A ``CheckQuery`` from a decoded JSON object, or ``InputError`` naming the key."""
    obj = fields(value, where, set(CHECK_REQUEST["properties"]))
    content: bytes | None = None
    if "content" in obj:
        if not isinstance(obj["content"], str):
            raise InputError(f"{where}: content must be a base64 string")
        try:
            content = base64.b64decode(obj["content"], validate=True) or None  # "": absent
        except (binascii.Error, ValueError) as e:
            raise InputError(f"{where}: content is not valid base64: {e}") from e
    signals = obj.get("signals", [])
    if not isinstance(signals, list) or not all(isinstance(s, str) for s in signals):
        raise InputError(f"{where}: signals must be a list of strings")
    if len(signals) > MAX_SIGNALS:
        raise InputError(f"{where}: at most {MAX_SIGNALS} signals per check")
    quality = obj.get("pdq_quality")
    if quality is not None and (
        not isinstance(quality, int) or isinstance(quality, bool) or not 0 <= quality <= 100
    ):
        raise InputError(f"{where}: pdq_quality must be an integer in 0..100")
    content_id = obj.get("content_id", "")
    if not isinstance(content_id, str) or len(content_id) > MAX_CONTENT_ID:
        raise InputError(f"{where}: content_id must be a string of at most "
                         f"{MAX_CONTENT_ID} characters")  # fmt: skip
    report = obj.get("report", True)
    if not isinstance(report, bool):
        raise InputError(f"{where}: report must be true or false")
    frames = obj.get("vpdq", [])
    if not isinstance(frames, list) or len(frames) > MAX_VPDQ_FRAMES:
        raise InputError(f"{where}: vpdq must be a list of at most {MAX_VPDQ_FRAMES:,} frames")
    try:
        vpdq = tuple(VpdqFrame.from_json(f) for f in frames)
    except InputError as e:
        raise InputError(f"{where}: vpdq: {e}") from e
    return CheckQuery(content, tuple(signals), quality, content_id, report, vpdq)


def result_to_json(result: CheckResult) -> dict[str, Any]:
    return {
        "matches": [dataclasses.asdict(m) for m in result.matches],
        "signals": list(result.signals),
        "notes": list(result.notes),
    }


def error_to_json(error: ItemError) -> dict[str, str]:
    return {"code": error.code, "message": error.message}


def fields(value: object, where: str, known: set[str]) -> Mapping[str, Any]:
    """``value`` as a JSON object with only ``known`` keys, or ``InputError``."""
    if not isinstance(value, dict):
        raise InputError(f"{where} must be a JSON object")
    unknown = sorted(set(value) - known)
    if unknown:
        shown = ", ".join(repr(k)[:80] for k in unknown[:5])
        raise InputError(f"{where}: unknown key(s) {shown}; known: {', '.join(sorted(known))}")
    return value
