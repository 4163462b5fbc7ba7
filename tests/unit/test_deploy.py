"""What deploy/ ships: alert rules promtool accepts and whose tests pass, and systemd
units that run real ``hashlist`` commands with the hardening they claim."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from hashlist.cli import build_parser

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
HARDENING = {
    "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
    "PrivateTmp": "yes", "PrivateDevices": "yes", "RestrictSUIDSGID": "yes",
    "CapabilityBoundingSet": "", "SystemCallFilter": "@system-service",
}  # fmt: skip


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing: make test installs Debian's prometheus package")
        pytest.skip("promtool is not installed (make test installs it)")
    return found


@pytest.mark.parametrize("command", [["check", "rules", "alerts.yml"],
                                     ["test", "rules", "alerts.test.yml"]])  # fmt: skip
def test_the_alert_rules_pass_promtool(command: list[str]) -> None:
    done = subprocess.run([_promtool(), *command], cwd=DEPLOY, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("unit", sorted((DEPLOY / "systemd").glob("*.service")), ids=str)
def test_a_unit_runs_a_real_command_hardened(unit: Path) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit.read_text())
    service = parser["Service"]
    argv = shlex.split(service["ExecStart"].replace("%i", "facebook"))
    assert argv[0].endswith("/hashlist")
    args = build_parser().parse_args(argv[1:])  # a usage error would exit here
    assert args.log_format == "json"
    for key, value in HARDENING.items():
        assert service.get(key) == value, f"{unit.name}: {key}={value} expected"
    assert service["User"] == "hashlist"
