"""Logs written before format version 2: what an existing hub's database holds.

A v1 leaf differs from a v2 leaf in its first line and its size bound only
(16 MiB, not 65,535 bytes): ``append_v1`` appends to a ``ListLog`` exactly
the leaf a hub before version 2 would have signed for one publication.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from hashlist.delta import make_delta
from hashlist.log import ListLog
from hashlist.lthash import LtHash16


def append_v1(log: ListLog, additions: Sequence[str], removals: Sequence[str] = ()) -> bytes:
    """Append one v1 leaf to ``log``, however large; returns it. Whatever ``log``
    appends afterwards is v2, as after a hub's upgrade."""
    lthash = LtHash16(log.lthash.to_bytes())
    delta = make_delta(log.list_id, log.size + 1, bytes(32), additions, removals)
    lthash.update(delta.additions, delta.removals)
    leaf = replace(delta, state_digest=lthash.digest(), format_version=1).encode()
    log.members |= set(delta.additions)
    log.members -= set(delta.removals)
    log.lthash = lthash
    log.tree.append(leaf)
    log.leaves.append(leaf)
    return leaf
