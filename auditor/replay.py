"""The auditor's checks of the hub's history and of a node's replica.

* ``replay_list``: fetch a list's whole history and replay it
  (``hashlist.audit.replay_history``). Every checkpoint verified is kept in
  the audit folder (one file per signed note), so a later run catches a
  rewritten history; a refused history's notes are kept under ``evidence/``.
* ``export_list`` / ``replay_bundle``: a self-contained folder (the signed
  checkpoint, every leaf, the checkpoints seen earlier) that replays offline
  with only the trust root (``auditor.bundle``).
* ``verify_replica``: recompute a list's state digest from a node's rows
  (read through the node's read-only replica API) and check it against the
  signed history at the node's version.

Each returns a report or raises the typed verification error; the CLI maps
that to its exit status.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from auditor.bundle import Bundle, write_bundle
from auditor.history import history
from hashlist import errors
from hashlist.audit import (
    KeptNote,
    ReplayReport,
    ReplicaReport,
    check_replica,
    replay_history,
)
from hashlist.checkpoint import verify_checkpoint
from hashlist.client import HubClient
from hashlist.delta import validate_list_id
from hashlist.rotation import walk_chain
from hashlist.trustroot import TrustRoot
from node.store import ReplicaReader

# <size>-<root prefix>[.v<trust-root version it verified under>].note
_KEPT = re.compile(r"\d{12}-[0-9a-f]{16}(?:\.v(\d{1,9}))?\.note")


def seen_notes(audit_dir: Path, list_id: str) -> list[KeptNote]:
    """The signed notes earlier runs verified for ``list_id``, oldest first."""
    validate_list_id(list_id)
    kept = []
    for path in sorted((audit_dir / list_id).glob("*.note")):
        m = _KEPT.fullmatch(path.name)  # any other note is checked too, version unknown
        kept.append(KeptNote(path.read_bytes(), int(m[1] or 0) if m else 0))
    return kept


def replay_list(
    hub: HubClient, chain: Sequence[TrustRoot], list_id: str, audit_dir: Path, now: int,
    *, on_leaf: Callable[[int], None] | None = None,
) -> ReplayReport:  # fmt: skip
    """``chain``: the auditor's trust root and every newer version, the current last;
    ``on_leaf``: see ``auditor.history.history``."""
    trust = chain[-1]
    folder = audit_dir / list_id
    seen = seen_notes(audit_dir, list_id)
    folder.mkdir(parents=True, exist_ok=True)
    note = b""
    try:
        note, leaves = history(hub, trust, list_id, on_leaf)
        report = replay_history(list_id, note, leaves, trust=trust, now=now, seen=seen,
                                earlier_trusts=chain[:-1])  # fmt: skip
    except errors.VerificationError as e:
        keep_evidence(folder, note, e, now)
        raise
    name = f"{report.size:012d}-{report.root.hex()[:16]}.v{trust.version}.note"
    (folder / name).write_bytes(note)
    return report


def keep_evidence(folder: Path, note: bytes, e: errors.VerificationError, now: int) -> None:
    evidence = folder / "evidence"
    evidence.mkdir(exist_ok=True)
    stamp = f"{now}-{type(e).__name__}"
    if note:  # no note when the hub could not be asked for one
        (evidence / f"{stamp}.served.note").write_bytes(note)
    if isinstance(e, errors.EquivocationError):
        (evidence / f"{stamp}.trusted.note").write_bytes(e.trusted_note)
    (evidence / f"{stamp}.txt").write_text(f"{type(e).__name__}: {e}\n")


def export_list(
    hub: HubClient, chain: Sequence[TrustRoot], list_id: str, audit_dir: Path, out: Path,
    *, on_leaf: Callable[[int], None] | None = None,
) -> int:  # fmt: skip
    """Write the bundle, with the signed trust-root versions after ``chain[0]``;
    returns the number of versions exported."""
    note, leaves = history(hub, chain[-1], list_id, on_leaf)
    signed = {t.version: hub.trust_root(t.version) for t in chain[1:]}
    return write_bundle(out, list_id, note, leaves, seen_notes(audit_dir, list_id),
                        trust_roots={v: s for v, s in signed.items() if s is not None})  # fmt: skip


def replay_bundle(bundle: Bundle, trust: TrustRoot) -> ReplayReport:
    """Replay what ``auditor.bundle.read_bundle`` read, offline, from ``trust`` along
    the trust-root versions the bundle carries."""
    # Offline the versions' expiry is not checked, and "now" is the bundle's own
    # newest cosignature: a bundle stays verifiable after the maximum age passed.
    chain = walk_chain(trust, bundle.trust_roots.get, now=None)
    current = chain[-1]
    at = verify_checkpoint(bundle.note, current, current.origin(bundle.list_id)).cosigned_at
    return replay_history(bundle.list_id, bundle.note, bundle.leaves, trust=current,
                          now=at or 0, seen=bundle.seen, earlier_trusts=chain[:-1])  # fmt: skip


def verify_replica(
    replica: ReplicaReader, hub: HubClient, trust: TrustRoot, list_id: str
) -> ReplicaReport:
    state = replica.state(list_id)
    leaf, proof = b"", []
    if state.size:
        last = state.size - 1
        leaf = next(x for _, batch in hub.leaves(list_id, last, state.size) for x in batch)
        proof = hub.inclusion_proof(list_id, last, state.size)
    return check_replica(
        state, replica.signals(list_id), trust=trust, last_leaf=leaf, last_leaf_proof=proof
    )
