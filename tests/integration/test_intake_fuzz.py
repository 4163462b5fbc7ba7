"""Fuzz the intake's API against its own OpenAPI document (schemathesis), in front
of a real hub: no 5xx, every status, content type and body as documented."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis

from server.intake.serve import running_intake
from tests.integration.test_intake import hub_with_cases, intake_config
from tests.integration.test_rest_fuzz import fuzz_api


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
    paths = {"/v1/cases", "/v1/cases/{number}", "/v1/cases/{number}/withdraw"}
    fuzz_api(intake_url, mode, paths, examples=30)
