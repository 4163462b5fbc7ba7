"""One exit-status policy for the whole ``hashlist`` command (``hashlist/cli/exits.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hashlist import errors
from hashlist.cli import exits, main


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.InputError("bad"), exits.USAGE),
        (errors.NotFoundError("no list"), exits.USAGE),
        (errors.KeyFormatError("bad key"), exits.USAGE),
        (errors.UnavailableError("down"), exits.UNAVAILABLE),
        (errors.PermissionDeniedError("no"), exits.REFUSED),
        (errors.UnauthenticatedError("who"), exits.REFUSED),
        (errors.StorageError("disk"), exits.INTERNAL),
        (errors.RollbackError("back"), 11),
        (errors.QuorumError("few"), 12),
        (errors.StaleCheckpointError("old", age_seconds=9), 17),
        (errors.RotationThresholdError("few root keys"), 19),
    ],
)
def test_each_error_has_its_status(error: errors.HashlistError, status: int) -> None:
    assert exits.exit_status(error) == status


def test_verification_failures_have_distinct_statuses() -> None:
    # Too few witness cosignatures keeps the status of a bad signature (12).
    codes = [code for kind, code in exits.VERIFICATION_STATUSES if kind is not errors.QuorumError]
    assert len(set(codes)) == len(codes)
    assert all(10 <= c <= 19 for c in codes)


def test_node_status_on_a_missing_database_is_a_usage_error_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "node.toml"
    config.write_text(
        'name = "yubo"\nhub = "127.0.0.1:1"\ntrust_root = "trust.toml"\nlists = ["takeitdown"]\n'
        'database = "typo.db"\ntls_cert = "c.pem"\ntls_key = "c.key"\nca = "ca.pem"\n'
    )
    assert main(["node", "status", "--config", str(config)]) == exits.USAGE
    assert "no node database" in capsys.readouterr().err
    assert not (tmp_path / "typo.db").exists()


@pytest.mark.parametrize("command", ["replay", "export"])
def test_a_list_id_never_becomes_a_path_outside_the_audit_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    audit = tmp_path / "work" / "audit"
    audit.mkdir(parents=True)
    argv = ["audit", command, "--list", "../escaped", f"--audit-dir={audit}",
            "--hub=127.0.0.1:1", f"--trust-root={tmp_path / 'trust.toml'}"]  # fmt: skip
    if command == "export":
        argv.append(f"--out={tmp_path / 'bundle'}")
    assert main(argv) == exits.USAGE
    assert "list id '../escaped' is not valid" in capsys.readouterr().err
    assert not (tmp_path / "work" / "escaped").exists()
    assert list(audit.iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [["hub", "create-list", "x" * 100_000], ["hub", "matches", "--list", "x" * 100_000],
     ["hub", "publish", "--list", "x" * 100_000, "--add", "md5:" + "1" * 32]],
)  # fmt: skip
def test_a_huge_list_id_is_a_usage_error_sent_nowhere(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # No hub listens on port 1: had anything been sent, the exit would be 3.
    assert main([*argv[:2], "--hub=127.0.0.1:1", *argv[2:]]) == exits.USAGE
    err = capsys.readouterr().err
    assert "is not valid" in err
    assert "(100,000 characters)" in err
    assert len(err) < 2_000


def test_no_certificate_is_assumed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HASHLIST_CA", "HASHLIST_CERT", "HASHLIST_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert main(["hub", "status", "--hub=127.0.0.1:1"]) == exits.USAGE
    assert "give --ca, --cert, --key" in capsys.readouterr().err
