"""What every audit command fetches from the hub: the followed trust root and a history."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from hashlist.checkpoint import verify_checkpoint
from hashlist.client import HubClient
from hashlist.rotation import walk_chain
from hashlist.trustroot import TrustRoot


def trust_chain(trust: TrustRoot, hub: HubClient, now: int) -> list[TrustRoot]:
    """``trust`` and every newer version the hub serves, each verified by the one
    before; the last is the version in force."""
    return walk_chain(trust, hub.trust_root, now=now)


def history(
    hub: HubClient, trust: TrustRoot, list_id: str, on_leaf: Callable[[int], None] | None = None
) -> tuple[bytes, Iterator[bytes]]:
    """The hub's newest signed note and a stream of every leaf up to its size;
    ``on_leaf(size)`` is called as each leaf arrives (for progress)."""
    note = hub.checkpoint(list_id)
    size = verify_checkpoint(note, trust, trust.origin(list_id)).checkpoint.size

    def leaves() -> Iterator[bytes]:
        for _, batch in hub.leaves(list_id, 0, size):
            for leaf in batch:
                if on_leaf is not None:
                    on_leaf(size)
                yield leaf

    return note, leaves()
