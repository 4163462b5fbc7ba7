"""Hypothesis strategies for signals and deltas."""

from __future__ import annotations

from hypothesis import strategies as st

from hashlist.signals import SignalKind, SignalText


@st.composite
def signal_texts(draw: st.DrawFn) -> SignalText:
    # A listed video needs its frames beside its signal: tests/unit/test_vpdq_log.py.
    kind = draw(st.sampled_from([k for k in SignalKind if k is not SignalKind.VPDQ]))
    digest = draw(st.binary(min_size=kind.nbytes, max_size=kind.nbytes))
    return SignalText(f"{kind.label}:{digest.hex()}")


signal_sets = st.frozensets(signal_texts(), max_size=40)
list_ids = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)
