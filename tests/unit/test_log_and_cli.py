"""The reference publisher's invariants, and the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hashlist.cli import main
from hashlist.errors import InputError
from hashlist.log import ListLog
from hashlist.trustroot import load_trust_root
from tests.conftest import Keys

A, B = "md5:" + "a" * 32, "md5:" + "b" * 32


def test_publish_leaves_out_what_would_break_the_invariants(keys: Keys) -> None:
    log = ListLog("l", "hub.example/lists/l", [keys.log], [keys.timestamp])
    log.append([A])
    pub = log.append([A, B], removals=["md5:" + "c" * 32])
    assert (pub.version, pub.added, pub.removed) == (2, 1, 0)
    assert pub.already_listed == (A,)
    assert pub.not_listed == ("md5:" + "c" * 32,)
    with pytest.raises(InputError, match="nothing to publish"):
        log.append([A])
    with pytest.raises(InputError, match="both added and removed"):
        log.append([A], removals=[A])
    assert log.size == 2


def test_a_publication_becomes_as_many_leaves_as_the_limit_needs(keys: Keys) -> None:
    log = ListLog("l", "hub.example/lists/l", [keys.log], [], max_delta_bytes=1024)
    pub = log.append([f"md5:{i:032x}" for i in range(100)])
    assert (pub.first_version, pub.version, pub.added) == (1, log.size, 100)
    assert log.size > 1
    assert all(len(leaf) <= 1024 for leaf in log.leaves)
    tiny = ListLog("l", "hub.example/lists/l", [keys.log], [], max_delta_bytes=200)
    with pytest.raises(InputError, match="cannot hold a single change"):
        tiny.append([f"md5:{i:032x}" for i in range(10)])
    assert tiny.size == 0
    assert not tiny.members


def test_keygen_and_trust_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", "hub.example/log", "--out", str(tmp_path)]) == 0
    assert main(["keygen", "hub.example/timestamp", "--cosigner", "--out", str(tmp_path)]) == 0
    key_file = tmp_path / "hub.example_log.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    log_pub = (tmp_path / "hub.example_log.pub").read_text().strip()
    ts_pub = (tmp_path / "hub.example_timestamp.pub").read_text().strip()
    capsys.readouterr()
    assert (
        main(
            ["trust-root", "--hub", "hub.example", "--log-key", log_pub, "--timestamp-key", ts_pub]
        )
        == 0
    )
    (tmp_path / "trust.toml").write_text(capsys.readouterr().out)
    root = load_trust_root(tmp_path / "trust.toml")
    assert str(root.log_keys[0]) == log_pub


def test_cli_errors_are_one_line_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["trust-root", "--hub", "hub.example", "--log-key", "garbage", "--timestamp-key", "x"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("hashlist: KeyFormatError: ")
    assert "Traceback" not in err
