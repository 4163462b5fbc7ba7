"""The README's "Running it yourself" runs as a new user would run it.

Every block marked ``sh try``, ``toml try:FILE`` or ``python try`` is taken in
order: TOML is written to its file, shell runs in one ``bash`` session (so
``cd``, exported variables and background jobs carry over) with the installed
``hashlist`` first on the PATH, and Python runs with the same interpreter in
the folder the shell ended in. Only the fixed ports are swapped for free
ones, so the test never collides with anything on the machine.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"^```(sh|toml|python) try(?::(\S+))?\n(.*?)^```$", re.M | re.S)
_PORTS = ("7443", "7380", "7390", "9464", "9465", "9466")


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def test_the_readme_recipe_runs_as_written(tmp_path: Path) -> None:
    blocks = _BLOCK.findall((REPO / "README.md").read_text())
    assert [kind for kind, _, _ in blocks].count("sh") >= 5, "the recipe's blocks are marked"
    ports = {p: _free_port() for p in _PORTS}
    script = ["set -euo pipefail"]
    python: list[str] = []
    for kind, name, text in blocks:
        body = text
        for fixed, free in ports.items():
            body = body.replace(fixed, free)
        if kind == "toml":
            script.append(f"cat > {name} <<'TOML'\n{body}TOML")
        elif kind == "python":
            python.append(body)
            script.append(f"{sys.executable} - <<'PY'\n{body}PY")
        else:
            script.append(body)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "PYTHONUNBUFFERED": "1"}  # fmt: skip
    for name in ("HASHLIST_HUB", "HASHLIST_CA", "HASHLIST_CERT", "HASHLIST_KEY"):
        env.pop(name, None)
    shell = subprocess.Popen(
        ["bash", "-c", "\n".join(script)], cwd=tmp_path, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = shell.communicate(timeout=240)
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait()
    assert shell.returncode == 0, out[-4000:]
    assert python, "the Python example is marked too"
    assert "upload.bin: 2 matches" in out
    # Two publications, a retraction, a case approved, the case withdrawn.
    assert "takeitdown: OK: 5 versions replayed" in out
    assert "'status': 'listed'" in out
    assert "'status': 'withdrawn'" in out
    assert re.search(r"operator: approve case \S+", out)  # the audit trail
    # The history: version 5 retracted the withdrawn case's two hashes.
    assert re.search(r"\n +5  \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +0 +2\n", out)
    assert re.search(r"takeitdown md5:\S+ 0 [0-9a-f]{32}", out)  # the Python example's print
