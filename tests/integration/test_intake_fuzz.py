"""Fuzz the intake's API against its own OpenAPI document (schemathesis), in front
of a real hub: no 5xx, every status, content type and body as documented."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from server.intake.serve import running_intake
from tests.integration.test_intake import hub_with_cases, intake_config
from tests.integration.test_rest_fuzz import CHECKS


@pytest.fixture(scope="module")
def intake_url(tmp_path_factory: pytest.TempPathFactory, pki: Path) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("fuzz")
    with (
        hub_with_cases(folder / "hub", pki) as hub,
        running_intake(
            intake_config(pki, hub.port, requests_per_minute=100_000, cases_per_hour=100_000)
        ) as running,  # fmt: skip
    ):
        yield running.url


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_every_answer_is_documented_and_never_a_server_error(
    intake_url: str, mode: schemathesis.GenerationMode
) -> None:
    api = schemathesis.openapi.from_url(f"{intake_url}/openapi.json")
    api.config.update(base_url=intake_url)
    operations = []
    for result in api.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself must be valid
        operations.append(result.ok())
    assert {op.path for op in operations} == {
        "/v1/cases", "/v1/cases/{number}", "/v1/cases/{number}/withdraw"}  # fmt: skip
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=30, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def fuzz(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(checks=CHECKS)

        fuzz()
