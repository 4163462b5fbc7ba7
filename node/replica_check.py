"""Re-hashing the replica's rows against the verified state digest, at start and on a schedule.

A replica edited or corrupted on disk would otherwise go unnoticed: the
rows answer upload checks directly. For each list, the state and its rows
are read as of one moment (``ReplicaReader.consistent``), the LtHash16 of
the rows is recomputed and compared with the digest the node verified. A
mismatch is logged and handed to the sync loop (``on_corrupt``), which raises
an alarm and repairs the list from the hub's snapshot. The check reads only,
on its own read-only connection: it never blocks uploads or the sync loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from hashlist.lthash import LtHash16
from node.store import ReplicaReader

log = logging.getLogger(__name__)


def corrupt_lists(reader: ReplicaReader, lists: Sequence[str]) -> list[str]:
    """The lists whose rows do not hash to their verified state digest."""
    bad = []
    for list_id in lists:
        with reader.consistent(list_id) as (state, rows):
            if not state.checkpoint_note:
                continue  # nothing verified yet
            started = time.monotonic()
            digest = LtHash16.of(rows).digest()
        if digest != state.state_digest:
            log.critical("list %s: the rows hash to %s, the verified state digest is %s",
                         list_id, digest.hex()[:16], state.state_digest.hex()[:16])  # fmt: skip
            bad.append(list_id)
        else:
            log.info("list %s: rows re-hashed to the verified digest in %.1f s", list_id,
                     time.monotonic() - started)  # fmt: skip
    return bad


def run_checks(
    reader: ReplicaReader,
    lists: Sequence[str],
    on_corrupt: Callable[[str], None],
    interval: float,
    stop: threading.Event,
) -> None:
    """Check at once, then every ``interval`` seconds (never again if 0) until ``stop``."""
    while not stop.is_set():
        try:
            for list_id in corrupt_lists(reader, lists):
                on_corrupt(list_id)
        except Exception:  # a failed check is retried at the next interval, never fatal
            log.exception("the replica check failed")
        if not interval or stop.wait(interval):
            return
