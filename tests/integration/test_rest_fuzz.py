"""Fuzz the Matcher's JSON API against its own OpenAPI document (schemathesis).

The server runs for real on loopback, over a real hub and replica (the
``rig`` of ``test_matching``, with listed images so some checks match); the
document is read from the server's ``/openapi.json``, as a platform's client
generator would. Schemathesis generates requests from it, valid and
invalid, and every answer must be no 5xx, a status the document lists, the
content type it lists and a body valid against its schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from node.rest import serving_rest
from tests.integration.test_matching import Rig, listed_images, rig

__all__ = ["rig"]  # the fixture, shared with test_matching

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def rest_url(rig: Rig) -> Iterator[str]:
    listed_images(rig, range(2))
    with serving_rest(rig.node.matcher, "127.0.0.1:0", max_body=1 << 20) as url:
        assert url is not None
        yield url


def fuzz_api(base_url: str, mode: schemathesis.GenerationMode, paths: set[str],
             examples: int = 40) -> None:  # fmt: skip
    """Every operation of the document at ``base_url``/openapi.json, which must list
    exactly ``paths``, fuzzed with ``examples`` requests and every answer checked.
    Schemathesis's own pytest plugin does not run under pytest 9 yet, so each
    operation's strategy is driven by Hypothesis here."""
    api = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    api.config.update(base_url=base_url)
    operations = []
    for result in api.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself must be valid
        operations.append(result.ok())
    assert {op.path for op in operations} == paths
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def fuzz(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(checks=CHECKS)

        fuzz()


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_every_answer_is_documented_and_never_a_server_error(
    rest_url: str, mode: schemathesis.GenerationMode
) -> None:
    fuzz_api(rest_url, mode, {"/v1/check", "/v1/check-batch", "/v1/verdict"})
