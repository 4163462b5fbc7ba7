"""The package a user installs: a wheel with every app, its types marker and the
demo's code, and nothing of the checkout (no committed development keys)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

from hashlist.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_holds_the_apps_and_no_development_keys(tmp_path: Path) -> None:
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", *isolation,
         "--wheel-dir", str(tmp_path), str(REPO)],
        check=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    [wheel] = tmp_path.glob("hashlist-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("hashlist/cli/demo.py", "hashlist/devpki.py", "hashlist/py.typed",
                   "server/serve.py", "node/daemon.py", "auditor/replay.py",
                   "witness/server.py", "hashlist/v1/hashlist_pb2.py",
                   "hashlist/v1/hashlist.proto"):  # fmt: skip
        assert module in names, module
    assert not [n for n in names if n.startswith(("certs-dev/", "tests/")) or n.endswith(".key")]
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "hashlist = hashlist.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_hashlist_proto_writes_the_wire_format_for_other_languages(tmp_path: Path) -> None:
    assert main(["proto", "--out", str(tmp_path)]) == 0
    written = tmp_path / "hashlist" / "v1" / "hashlist.proto"
    assert written.read_bytes() == (REPO / "hashlist" / "v1" / "hashlist.proto").read_bytes()
    assert b"service Matcher" in written.read_bytes()
