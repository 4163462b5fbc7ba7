"""The house's layers hold, and the check that enforces them catches a breach.

The rules are import-linter contracts in ``pyproject.toml`` (the core imports
no app; apps do not import each other, but the auditor reads a replica
through ``node.store``; generated protobuf is imported only at the edge).
``make test`` runs ``lint-imports`` on the tree; these tests also run it on a
copy with a deliberate breach, so a contract that silently stopped matching
anything would fail here.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hashlist", "server", "node", "auditor", "witness")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_tree_keeps_every_contract(copy: Path) -> None:
    done = _lint(copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 kept, 0 broken" in done.stdout


CORE_BREACH = "hashlist is not allowed to import server"


@pytest.mark.parametrize(
    ("module", "breach", "contract"),
    [
        (
            "hashlist/verify.py",
            "from server import hub",
            "hashlist is not allowed to import server",
        ),
        ("server/reading.py", "from node import store", "server is not allowed to import node"),
        ("node/sync.py", "from auditor import replay", "node is not allowed to import auditor"),
        ("node/matcher.py", "from hashlist.v1 import hashlist_pb2", "node.matcher -> hashlist.v1"),
        (
            "server/console/views.py",
            "from server import store",
            "server.console is not allowed to import server.store",
        ),
    ],
)
def test_a_breach_breaks_the_check(copy: Path, module: str, breach: str, contract: str) -> None:
    with (copy / module).open("a") as f:
        f.write(f"\n{breach}  # deliberate breach\n")
    done = _lint(copy)
    assert done.returncode == 1, done.stdout
    assert contract in done.stdout


def test_no_hand_written_module_is_over_400_lines() -> None:
    for name in PACKAGES:
        for path in (ROOT / name).rglob("*.py"):
            if "v1" in path.relative_to(ROOT).parts:
                continue  # generated
            lines = path.read_text().count("\n")
            assert lines <= 400, f"{path.relative_to(ROOT)} has {lines} lines"


def test_environment_variables_are_read_only_at_the_cli_edge() -> None:
    for name in PACKAGES:
        for path in (ROOT / name).rglob("*.py"):
            rel = path.relative_to(ROOT)
            if rel.parts[:2] == ("hashlist", "cli"):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                    pytest.fail(f"{rel}:{node.lineno} reads the environment outside hashlist/cli")
