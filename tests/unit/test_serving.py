"""What served processes share: fitting connections in the file-descriptor limit,
knowing the development CA when they are given it."""

from __future__ import annotations

import logging
import resource
from pathlib import Path

import pytest

from hashlist.devpki import DevCA, is_development_ca, write_dev_pki
from hashlist.errors import ConfigError
from hashlist.serving import fit_connections, raise_fd_limit


def test_connections_are_lowered_to_leave_the_reserve(caplog: pytest.LogCaptureFixture) -> None:
    assert fit_connections(4096, 800, 1_048_576) == 4096
    with caplog.at_level(logging.WARNING):
        assert fit_connections(4096, 800, 1024) == 224
    assert "accepting at most 224 connections, not max_connections=4096" in caplog.text


def test_a_limit_that_leaves_no_room_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="file-descriptor limit 256 leaves no room"):
        fit_connections(4096, 800, 256)


def test_the_soft_limit_is_raised_never_lowered_nor_past_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(soft, 512)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        assert raise_fd_limit(low - 100) == low
        wanted = low + 50 if hard == resource.RLIM_INFINITY else min(low + 50, hard)
        assert raise_fd_limit(low + 50) == wanted
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == wanted
        if hard != resource.RLIM_INFINITY:
            assert raise_fd_limit(hard + 10) == hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_development_ca_is_recognised(tmp_path: Path) -> None:
    write_dev_pki(tmp_path / "dev")
    assert is_development_ca((tmp_path / "dev" / "ca.pem").read_bytes())
    assert not is_development_ca(DevCA("Example Partners Root CA").cert_pem)
    assert not is_development_ca(b"not a certificate")
