"""Protobuf at the edge: every ``*_to_proto`` / ``*_from_proto`` pair round-trips."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hashlist import wire
from hashlist.model import (
    CheckResult,
    HashMatches,
    ListStatus,
    Match,
    PublishResult,
    Report,
    Verdict,
)
from hashlist.snapshot import SnapshotHeader

text = st.text(max_size=40)
u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)
blob = st.binary(max_size=64)
blobs = st.lists(blob, max_size=4).map(tuple)
texts = st.lists(text, max_size=4).map(tuple)

PAIRS: list[tuple[Any, Callable[..., Any], Callable[..., Any]]] = [
    (st.builds(Report, text, text, text, u32, u64, text, i64),
     wire.report_to_proto, wire.report_from_proto),
    (st.builds(Verdict, text, text, text, i64), wire.verdict_to_proto, wire.verdict_from_proto),
    (st.builds(HashMatches, text, st.lists(st.tuples(text, u64), max_size=3).map(tuple),
               u64, u64, st.booleans()),
     wire.hash_matches_to_proto, wire.hash_matches_from_proto),
    (st.builds(CheckResult, st.lists(st.builds(Match, text, text, text, u32, u64, text),
                                     max_size=3).map(tuple), texts, texts),
     wire.check_result_to_proto, wire.check_result_from_proto),
    (st.builds(PublishResult, u64, u64, u64, texts, texts, blob, st.booleans()),
     wire.publish_result_to_proto, wire.publish_result_from_proto),
    (st.builds(ListStatus, text, u64, u64, blob, blob, i64, texts),
     wire.list_status_to_proto, wire.list_status_from_proto),
    (st.builds(SnapshotHeader, blob, blobs, blob, blobs, blobs, u64),
     wire.snapshot_header_to_proto, wire.snapshot_header_from_proto),
]  # fmt: skip


@pytest.mark.parametrize(("values", "to_proto", "from_proto"), PAIRS)
def test_round_trip(
    values: Any, to_proto: Callable[..., Any], from_proto: Callable[..., Any]
) -> None:
    @given(values)
    def check(value: Any) -> None:
        message = to_proto(value)
        assert from_proto(type(message).FromString(message.SerializeToString())) == value

    check()
