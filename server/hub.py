"""The hub, assembled: its parts, wired once, each of one concern.

==================  ===================================================
``access``          grants, and who may read, administer or report
``publisher``       creating lists and publishing deltas (the write path)
``cosigner``        re-cosigning, witness lines, re-signing after rollover
``reader``          checkpoints, leaves, proofs, snapshots, status
``reports``         partners' reports and verdicts, the operator's view
``broadcaster``     fan-out of new notes to subscription streams
``cases``           victims' cases: opened, read, withdrawn, published by policy
``trail``           the audit trail: every operator action, recorded before it runs
``oversight``       a list's history, the review queue, activity per day
==================  ===================================================

``build_hub`` is the only place these are constructed; each receives its
collaborators, none constructs another. The witness submitter
(``server.witness_submitter``) depends on the hub, never the other way
round: it registers itself as a publisher listener. No protobuf here:
servicers translate to and from the domain types and call these parts.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hashlist.clock import Clock
from hashlist.note import Signer
from server.access import Access
from server.broadcast import Broadcaster
from server.casedesk import CaseDesk
from server.cosigning import Cosigner
from server.metrics import HubMetrics
from server.oversight import Oversight
from server.partners import PartnerRegistry
from server.publishing import Publisher
from server.ratelimit import TokenBuckets
from server.reading import LogReader
from server.reports import ReportBook
from server.signing import HubSigning
from server.store import HubStore
from server.tiles import TileWriter
from server.trail import AuditTrail
from server.trees import Trees


@dataclass(frozen=True)
class Hub:
    signing: HubSigning
    store: HubStore
    access: Access
    publisher: Publisher
    cosigner: Cosigner
    reader: LogReader
    reports: ReportBook
    broadcaster: Broadcaster
    metrics: HubMetrics
    partners: PartnerRegistry
    cases: CaseDesk
    trail: AuditTrail
    oversight: Oversight
    tiles: TileWriter | None = None

    def write_tiles(self) -> None:
        """Bring every list's static tiles up to its served checkpoint (at start)."""
        if self.tiles is not None:
            for row in self.store.lists():
                self.tiles.publish(row.list_id, row.latest_note)


def build_hub(
    *,
    name: str,
    store: HubStore,
    log_signers: Sequence[Signer],
    timestamp_signer: Signer,
    clock: Clock,
    max_delta_bytes: int,
    trust_roots: Mapping[int, bytes] | None = None,
    report_limit: TokenBuckets | None = None,
    tiles_dir: Path | None = None,
) -> Hub:
    """Load the trees from ``store``, wire the parts, re-sign after a key rollover."""
    signing = HubSigning(name, tuple(log_signers), timestamp_signer)
    trees = Trees()
    for row in store.lists():
        trees.load(row.list_id, store.leaf_hashes(row.list_id), row.size)
    tiles = None if tiles_dir is None else TileWriter(tiles_dir, store.leaves, trees.node)
    broadcaster = Broadcaster(before=None if tiles is None else tiles.publish)
    lock = threading.Lock()  # one writer of each list's served note at a time
    access = Access(store, clock, on_revoke=broadcaster.wake)  # a revoked stream ends at once
    cosigner = Cosigner(
        store=store, signing=signing, clock=clock, broadcaster=broadcaster, lock=lock
    )
    cosigner.start()
    metrics = HubMetrics()
    publisher = Publisher(
        store=store, trees=trees, signing=signing, clock=clock, broadcaster=broadcaster,
        lock=lock, max_delta_bytes=max_delta_bytes,
    )  # fmt: skip
    return Hub(
        signing=signing,
        store=store,
        access=access,
        publisher=publisher,
        cosigner=cosigner,
        reader=LogReader(store=store, trees=trees, access=access, trust_roots=trust_roots or {}),
        reports=ReportBook(store=store, access=access, clock=clock, limit=report_limit,
                           metrics=metrics),
        broadcaster=broadcaster,
        metrics=metrics,
        partners=PartnerRegistry(store=store, access=access, clock=clock),
        cases=CaseDesk(store=store, publisher=publisher, access=access, clock=clock,
                       metrics=metrics),
        trail=AuditTrail(store=store, access=access, clock=clock),
        oversight=Oversight(store=store, access=access, clock=clock),
        tiles=tiles,
    )  # fmt: skip
