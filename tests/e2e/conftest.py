"""End-to-end tier: real ``hashlist`` processes on loopback. Every test here is ``slow``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hashlist.cli.demo import Federation

_HERE = Path(__file__).parent
LIST = "takeitdown"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[Federation]:
    """A hub process (re-cosigning every second) with the list ``takeitdown``, no grants."""
    with Federation(tmp_path / "fed", recosign_seconds=1.0) as f:
        f.start_hub()
        with f.operator() as op:
            op.create_list(LIST)
        yield f
