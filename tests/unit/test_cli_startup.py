"""``hashlist --help`` and every command's ``--help`` load no gRPC, numpy or numba.

Those imports cost most of a second; the composition root imports them inside
the command that needs them. (How long ``--help`` takes is measured by
``bench/bench_cli.py``, not asserted here.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("grpc", "numpy", "numba", "PIL", "server", "node", "auditor", "witness")
_PROBE = """
import json, sys
from hashlist.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["hub", "publish", "--help"],
        ["node", "run", "--help"],
        ["audit", "replay", "--help"],
        ["witness", "serve", "--help"],
        ["intake", "serve", "--help"],
        ["hub", "cases", "list", "--help"],
        ["demo", "--help"],
    ],
)
def test_help_imports_nothing_heavy(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "usage: hashlist" in done.stdout
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
