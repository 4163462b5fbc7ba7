"""Daemon log lines: text or JSON, with time, level, component, and list and partner
taken from the house convention ("list %s" first; an Identity among the arguments)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from hashlist.errors import ConfigError
from hashlist.identity import Identity, Role
from hashlist.logs import setup_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_lines_carry_the_list_and_the_partner(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("hub", "info", "json")
    log = logging.getLogger("server.reports")
    log.info("list %s: verified and applied versions %d..%d", "takeitdown", 1, 2)
    log.info("%s reported %d new matches", Identity(Role.PARTNER, "yubo"), 3)
    log.debug("not shown at info")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["message"] for line in lines] == [
        "list takeitdown: verified and applied versions 1..2",
        "partner:yubo reported 3 new matches",
    ]
    assert lines[0]["list"] == "takeitdown"
    assert "partner" not in lines[0]
    assert lines[1]["partner"] == "yubo"
    assert {k for k in lines[0] if k not in ("list",)} == {
        "time", "level", "component", "logger", "message"}  # fmt: skip
    assert lines[0]["component"] == "hub"
    assert lines[0]["level"] == "info"
    assert lines[0]["time"].endswith("Z")


def test_text_lines_and_a_stack_trace_only_for_the_unexpected(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("node/yubo", "warning", "text")
    log = logging.getLogger("node.follow")
    log.info("hidden")
    log.warning("hub %s: unreachable; trying again in %.1f s", "hub.example:7443", 2.0)
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        log.exception("sync failed unexpectedly")
    err = capsys.readouterr().err
    first, *rest = err.splitlines()
    assert " WARNING node/yubo node.follow: hub hub.example:7443: unreachable" in first
    assert "hidden" not in err
    assert "Traceback" in "\n".join(rest)
    assert "Traceback" not in first


def test_unknown_levels_and_formats_are_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="log_level must be one of"):
        setup_logging("hub", "loud")
    with pytest.raises(ConfigError, match="log_format must be one of"):
        setup_logging("hub", "info", "xml")
