"""Canonical delta bytes: round trips, and every non-canonical variant refused."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hashlist.delta import (
    MAX_ENTRY_BYTES,
    MAX_V1_ENTRY_BYTES,
    Delta,
    decode_delta,
    make_delta,
)
from hashlist.errors import (
    InputError,
    InvalidSignalError,
    MalformedDeltaError,
    OversizedDeltaError,
)
from hashlist.signals import SignalText
from tests.strategies import list_ids, signal_sets, signal_texts

DIGEST = bytes(range(32))
MD5_A, MD5_B = SignalText("md5:" + "a" * 32), SignalText("md5:" + "b" * 32)
PDQ = SignalText("pdq:" + "c" * 64)


def _delta() -> bytes:
    return make_delta("takeitdown", 7, DIGEST, [PDQ, MD5_A], [MD5_B]).encode()


def test_the_documented_layout() -> None:
    assert _delta() == (
        b"hashlist-delta/v2\nlist takeitdown\nversion 7\nstate " + DIGEST.hex().encode() + b"\n"
        b"add " + MD5_A.encode() + b"\nadd " + PDQ.encode() + b"\nremove " + MD5_B.encode() + b"\n"
    )


@given(
    list_id=list_ids,
    version=st.integers(1, 2**63 - 1),
    digest=st.binary(min_size=32, max_size=32),
    adds=signal_sets,
    removes=signal_sets,
    format_version=st.sampled_from([1, 2]),
)
def test_round_trip(
    *, list_id: str, version: int, digest: bytes, adds: frozenset[str],
    removes: frozenset[str], format_version: int,
) -> None:  # fmt: skip
    removes = removes - adds
    if not adds and not removes:
        return
    delta = replace(make_delta(list_id, version, digest, adds, removes),
                    format_version=format_version)  # fmt: skip
    data = delta.encode()
    assert data.startswith(f"hashlist-delta/v{format_version}\n".encode())
    assert decode_delta(data) == delta
    assert decode_delta(data).encode() == data
    assert list(delta.additions) == sorted(adds)


def test_a_new_delta_is_v2_and_a_v1_leaf_decodes_to_the_same_change() -> None:
    v2 = make_delta("takeitdown", 7, DIGEST, [PDQ, MD5_A], [MD5_B])
    assert v2.format_version == 2
    v1 = decode_delta(_delta().replace(b"hashlist-delta/v2", b"hashlist-delta/v1"))
    assert v1.format_version == 1
    assert replace(v1, format_version=2) == v2


def _variants(data: bytes) -> list[tuple[str, bytes]]:
    lines = data.split(b"\n")
    return [
        ("upper-case hex", data.replace(b"add md5:aaaa", b"add md5:AAAA", 1)),
        ("leading zero in version", data.replace(b"version 7", b"version 07")),
        ("trailing space", data.replace(b"version 7\n", b"version 7 \n")),
        ("missing final newline", data[:-1]),
        ("extra blank line", data + b"\n"),
        ("CRLF", data.replace(b"\n", b"\r\n")),
        ("unsorted additions", b"\n".join([*lines[:4], lines[5], lines[4], *lines[6:]])),
        ("repeated addition", b"\n".join([*lines[:5], lines[4], *lines[5:]])),
        ("remove before add", b"\n".join([*lines[:4], lines[6], lines[4], lines[5], *lines[7:]])),
        ("unknown format line", data.replace(b"hashlist-delta/v2", b"hashlist-delta/v3")),
        ("upper-case state", data.replace(DIGEST.hex().encode(), DIGEST.hex().upper().encode())),
        ("short state", data.replace(DIGEST.hex().encode(), DIGEST.hex()[:-2].encode())),
        ("version zero", data.replace(b"version 7", b"version 0")),
        ("bad list id", data.replace(b"list takeitdown", b"list Take It Down")),
        ("unknown verb", data.replace(b"remove ", b"delete ")),
        ("short hash", data.replace(PDQ.encode(), PDQ[:-2].encode())),
        ("unknown kind", data.replace(b"md5:bbbb", b"crc:bbbb")),
        ("two spaces", data.replace(b"add md5", b"add  md5")),
        (
            "added and removed",
            data.replace(b"remove " + MD5_B.encode(), b"remove " + MD5_A.encode()),
        ),
        ("nothing changed", b"\n".join(lines[:4]) + b"\n"),
        ("trailing garbage", data + b"garbage"),
        ("NUL byte", data.replace(b"add md5", b"add\x00md5")),
    ]


@pytest.mark.parametrize("index", range(22))
def test_non_canonical_variants_are_refused(index: int) -> None:
    name, variant = _variants(_delta())[index]
    assert variant != _delta(), name
    with pytest.raises(MalformedDeltaError):
        decode_delta(variant)


@given(data=st.data())
def test_any_single_byte_change_is_refused_or_is_another_canonical_delta(
    data: st.DataObject,
) -> None:
    original = _delta()
    i = data.draw(st.integers(0, len(original) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda b: b != original[i]))
    mutated = original[:i] + bytes([value]) + original[i + 1 :]
    try:
        decoded = decode_delta(mutated)
    except MalformedDeltaError:
        return
    # A change of one hex digit can give another valid delta; then its
    # encoding must be exactly the mutated bytes (no two encodings of one delta).
    assert decoded.encode() == mutated


def test_error_messages_point_at_the_line() -> None:
    bad = _delta().replace(PDQ.encode(), PDQ[:-2].encode())
    with pytest.raises(MalformedDeltaError, match=re.escape("line 6: ") + ".*64 hex digits"):
        decode_delta(bad)
    with pytest.raises(MalformedDeltaError, match="third line must be 'version <n>'"):
        decode_delta(_delta().replace(b"version 7", b"version x"))
    lines = _delta().split(b"\n")
    with pytest.raises(MalformedDeltaError, match=r"'add md5:a+' is repeated"):
        decode_delta(b"\n".join([*lines[:5], lines[4], *lines[5:]]))


def test_size_limit_is_checked_before_parsing() -> None:
    data = _delta()
    assert decode_delta(data, max_bytes=len(data))
    with pytest.raises(
        OversizedDeltaError, match=f"{len(data)} bytes, over the {len(data) - 1}-byte limit"
    ):
        decode_delta(data, max_bytes=len(data) - 1)


def _leaf_of(size: int, format_version: int = 2) -> bytes:
    """A canonical leaf of exactly ``size`` bytes: md5 additions, and a list id whose
    length makes up the rest."""
    line = len(f"add md5:{0:032x}\n")
    header = len(make_delta("l", 1, DIGEST, [f"md5:{0:032x}"], []).encode()) - line
    count, extra = divmod(size - header, line)
    delta = make_delta("l" * (1 + extra), 1, DIGEST, [f"md5:{i:032x}" for i in range(count)], [])
    leaf = replace(delta, format_version=format_version).encode()
    assert len(leaf) == size
    return leaf


def test_a_v2_leaf_is_at_most_65535_bytes_whatever_the_verifiers_limit() -> None:
    assert MAX_ENTRY_BYTES == 65_535
    assert decode_delta(_leaf_of(65_535)).size > 1500
    too_big = _leaf_of(65_536)
    with pytest.raises(OversizedDeltaError, match="65536 bytes, over the 65535-byte limit"):
        decode_delta(too_big)
    with pytest.raises(OversizedDeltaError):
        decode_delta(too_big, max_bytes=MAX_V1_ENTRY_BYTES * 2)
    # Refused on its length alone: a body that would not even parse gets the same answer.
    with pytest.raises(OversizedDeltaError):
        decode_delta(too_big[:-1] + b"x")


def test_a_v1_leaf_may_be_larger_up_to_the_old_limit() -> None:
    assert decode_delta(_leaf_of(65_536, format_version=1)).format_version == 1
    assert decode_delta(_leaf_of(200_000, format_version=1)).size > 4_800
    with pytest.raises(OversizedDeltaError, match="over the 100000-byte limit"):
        decode_delta(_leaf_of(200_000, format_version=1), max_bytes=100_000)
    head = b"hashlist-delta/v1\n"
    with pytest.raises(OversizedDeltaError, match=f"over the {MAX_V1_ENTRY_BYTES}-byte limit"):
        decode_delta(head + bytes(MAX_V1_ENTRY_BYTES), max_bytes=2 * MAX_V1_ENTRY_BYTES)


def test_make_delta_canonicalises_and_reports_bad_input() -> None:
    delta = make_delta("l", 1, DIGEST, [MD5_A.upper().replace("MD5", "md5"), MD5_A], [])
    assert delta.additions == (MD5_A,)
    with pytest.raises(InvalidSignalError, match="both added and removed"):
        make_delta("l", 1, DIGEST, [MD5_A], [MD5_A])
    with pytest.raises(InputError, match="at least one hash"):
        make_delta("l", 1, DIGEST, [], [])
    with pytest.raises(InvalidSignalError, match="32 hex digits"):
        make_delta("l", 1, DIGEST, ["md5:abc"], [])
    with pytest.raises(InputError, match="list id"):
        make_delta("Bad List", 1, DIGEST, [MD5_A], [])


@given(sig=signal_texts())
def test_a_delta_of_one_signal_decodes(sig: str) -> None:
    assert decode_delta(make_delta("l", 1, DIGEST, [sig], []).encode()).additions == (sig,)


def test_delta_size_counts_lines() -> None:
    assert Delta("l", 1, DIGEST, (MD5_A,), (MD5_B,)).size == 2
