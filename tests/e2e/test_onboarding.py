"""A partner onboarded with the operator's own CA (``hashlist pki``), then revoked.

Everything runs as the people involved would run it: the operator makes the CA
and issues, the partner makes its key and request (its key never moves), the
hub and the partner's node are real processes, and revocation takes effect
without a restart.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from hashlist.cli.demo import Federation, random_signals, wait_until

LIST = "takeitdown"


def _hashlist(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hashlist.cli", *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def _ok(*argv: str, cwd: Path) -> str:
    done = _hashlist(*argv, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _status(fed: Federation, partner: str) -> dict[str, object]:
    done = _hashlist("node", "status", "--config", str(fed.workdir / f"{partner}.toml"),
                     "--json", cwd=fed.workdir)  # fmt: skip
    return json.loads(done.stdout.splitlines()[0]) if done.stdout else {}


def test_a_partner_onboarded_with_pki_syncs_and_a_revoked_one_gets_nothing(
    tmp_path: Path,
) -> None:
    operator, partner, pki = tmp_path / "operator", tmp_path / "acme-side", tmp_path / "pki"
    operator.mkdir()
    partner.mkdir()
    _ok("pki", "init-ca", "--out", "ca", cwd=operator)
    for role, name, extra in (("hub", "hub", ["--dns", "localhost", "--ip", "127.0.0.1"]),
                              ("operator", "operator", [])):  # fmt: skip
        _ok("pki", "request", "--role", role, "--name", name, "--out", "req", *extra,
            cwd=operator)  # fmt: skip
        _ok("pki", "issue", f"req/{name}.csr", "--ca", "ca", "--out", f"req/{name}.pem",
            "--role", role, "--name", name, *extra, cwd=operator)  # fmt: skip
    # The partner: a key that never leaves it, and a request it sends.
    _ok("pki", "request", "--role", "partner", "--name", "acme", "--out", ".", cwd=partner)
    csr = str(partner / "acme.csr")
    sneaky = _hashlist("pki", "issue", csr, "--ca", "ca", "--out", "acme.pem",
                       "--role", "operator", "--name", "acme", cwd=operator)  # fmt: skip
    assert sneaky.returncode == 2  # the request asks for a partner: nothing else is issued
    assert "asks for partner 'acme', not the operator" in sneaky.stderr
    _ok("pki", "issue", str(partner / "acme.csr"), "--ca", "ca", "--out", "acme.pem",
        "--role", "partner", "--name", "acme", cwd=operator)  # fmt: skip
    issued = [json.loads(line) for line in (operator / "ca" / "issued.jsonl").read_text()
              .splitlines()]  # fmt: skip
    assert [(r["role"], r["name"]) for r in issued] == [
        ("hub", "hub"), ("operator", "operator"), ("partner", "acme")]  # fmt: skip
    refused = _hashlist("pki", "issue", csr, "--ca", "ca", "--out", "acme.pem",
                        "--role", "partner", "--name", "acme", cwd=operator)  # fmt: skip
    assert refused.returncode == 2  # an issued certificate is never overwritten
    # What each process is given: the CA certificate (never its key) and its own pair.
    pki.mkdir()
    shutil.copy(operator / "ca" / "ca.pem", pki / "ca.pem")
    for name in ("hub", "operator"):
        for ext in ("pem", "key"):
            shutil.copy(operator / "req" / f"{name}.{ext}", pki / f"{name}.{ext}")
    shutil.copy(operator / "acme.pem", pki / "acme.pem")
    shutil.copy(partner / "acme.key", pki / "acme.key")
    assert not (pki / "ca.key").exists()

    with Federation(tmp_path / "fed", recosign_seconds=1.0, pki=pki) as fed:
        fed.start_hub()
        assert "development CA" not in (fed.workdir / "hub.log").read_text()
        with fed.operator() as op:
            op.create_list(LIST)
            op.grant(LIST, "acme", new_partner=True)
            op.publish(LIST, random_signals(20, "md5"))
        fed.start_node("acme", refused_retry_seconds=1.0)
        fed.wait_all_at(("acme",), LIST, 1, timeout=60)
        operator_flags = (
            f"--hub=127.0.0.1:{fed.hub_port}",
            f"--ca={pki / 'ca.pem'}",
            f"--cert={pki / 'operator.pem'}",
            f"--key={pki / 'operator.key'}",
        )

        def acme() -> Any:  # one JSON object of `hub partners --json`
            lines = _ok("hub", "partners", "--json", *operator_flags, cwd=tmp_path)
            return next(p for p in map(json.loads, lines.splitlines()) if p["name"] == "acme")

        def reported(view: Any) -> tuple[str, int, int, bool]:
            [one] = view["lists"]
            return one["list_id"], one["version"], one["lag"], one["reported_at"] > 0

        wait_until(lambda: reported(acme()) == (LIST, 1, 0, True), 30,
                   "acme's node to report version 1")  # fmt: skip
        [certificate] = acme()["certificates"]
        assert certificate["serial"] == issued[2]["serial"]
        assert certificate["not_after"] == issued[2]["not_after"]
        assert certificate["revoked"] is False

        serial = issued[2]["serial"]
        revoked = _ok("hub", "revoke", "--certificate", str(operator / "acme.pem"),
                      *operator_flags, cwd=tmp_path)  # fmt: skip
        assert f"certificate {serial} revoked" in revoked
        with fed.operator() as op:
            op.publish(LIST, random_signals(5, "md5"))  # version 2: acme must not get it
        wait_until(lambda: "revoked" in json.dumps(_status(fed, "acme")), 30, "the refusal")
        row = _status(fed, "acme")
        assert row["version"] == 1
        problems = row["problems"]
        assert isinstance(problems, list)
        assert any(str(p).startswith("refused by the hub: UnauthenticatedError") for p in problems)
        view = acme()
        assert view["certificates"][0]["revoked"] is True
        assert view["lists"][0]["version"] == 1
        assert view["lists"][0]["lag"] == 1  # the version it was not given
        text = _ok("hub", "partners", *operator_flags, cwd=tmp_path)
        assert "REVOKED" in text
        assert "version 1, lag 1" in text
