"""Parsing signals as people write them, and the errors they get when wrong."""

from __future__ import annotations

import pytest

from hashlist.errors import InvalidSignalError
from hashlist.signals import SignalKind, canonical, parse_signal


def test_canonical_form_is_lowercase_and_exact() -> None:
    assert canonical("  MD5:" + "AB" * 16 + "\n") == "md5:" + "ab" * 16
    assert canonical("PDQ:" + "0f" * 32) == "pdq:" + "0f" * 32
    for kind in SignalKind:
        sig = parse_signal(f"{kind.label}:{'1' * kind.hex_digits}")
        assert sig.kind is kind
        assert len(sig.digest) == kind.nbytes
        assert parse_signal(sig.text) == sig


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("crc32:deadbeef", "unknown signal kind 'crc32': expected one of pdq, phash, md5, sha256"),
        ("md5:" + "ab" * 15, "a md5 hash is 32 hex digits \\(128 bits\\), got 30"),
        ("pdq:" + "zz" * 32, "the pdq value is not hexadecimal"),
        ("deadbeef", "a signal is written kind:hex"),
        ("phash:" + "0" * 17, "a phash hash is 16 hex digits \\(64 bits\\), got 17"),
    ],
)
def test_errors_name_the_value_and_the_problem(text: str, message: str) -> None:
    with pytest.raises(InvalidSignalError, match=message) as info:
        parse_signal(text)
    assert text[:20] in str(info.value) or "unknown signal kind" in str(info.value)


def test_long_values_are_shortened_in_messages() -> None:
    with pytest.raises(InvalidSignalError) as info:
        parse_signal("md5:" + "a" * 10_000)
    assert len(str(info.value)) < 200
