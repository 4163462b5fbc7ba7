"""Catching a split view: gathering signed checkpoints of one list, and the evidence files.

Checkpoints come from

* nodes: the JSON lines of ``hashlist node status --json``, which partners
  send to their auditor;
* witnesses: ``GET /checkpoint/<origin>`` (``hashlist.witness_client``);
* signed note files;
* the hub itself with the auditor's certificate (``hub_view``): its newest
  checkpoint and every leaf, which lets checkpoints of different sizes be
  compared, not only equal ones.

The comparison is the pure ``hashlist.evidence.find_split_views``. Each
inconsistency becomes one JSON file that ``verify_evidence_file`` checks on
any machine with only the trust root.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from auditor.history import history
from hashlist import errors
from hashlist.client import HubClient
from hashlist.evidence import (
    Comparison,
    Sighting,
    SignedTree,
    SplitViewEvidence,
    verify_evidence,
)
from hashlist.trustroot import TrustRoot
from hashlist.witness_client import WitnessClient


def gather(
    list_id: str,
    trust: TrustRoot,
    *,
    status_files: Sequence[Path] = (),
    note_files: Sequence[Path] = (),
    witnesses: Sequence[WitnessClient] = (),
) -> list[Sighting]:
    sightings = []
    for path in status_files:
        for n, line in enumerate(read_text(path).splitlines(), 1):
            try:
                row = json.loads(line)
                if row["list_id"] == list_id and row["checkpoint"]:
                    source = f"node {row['node']} ({path}:{n})"
                    sightings.append(Sighting(source, row["checkpoint"].encode()))
            except (ValueError, KeyError, TypeError) as e:
                raise errors.InputError(f"{path}:{n}: not a 'node status --json' line") from e
    sightings += [Sighting(f"note {p}", read_text(p).encode()) for p in note_files]
    origin = trust.origin(list_id)
    for witness in witnesses:
        note = witness.latest(origin)
        if note is not None:
            sightings.append(Sighting(f"witness {witness.url}", note))
    return sightings


def hub_view(hub: HubClient, trust: TrustRoot, list_id: str) -> SignedTree:
    note, leaves = history(hub, trust, list_id)
    return SignedTree(Sighting(f"hub {hub.address}", note), leaves, trust)


def write_evidence(result: Comparison, folder: Path, list_id: str, now: int) -> list[Path]:
    """One JSON file per split view found; the folder is created only if there is one."""
    paths = []
    for i, ev in enumerate(result.split_views):
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{list_id}-{now}-{i}.json"
        path.write_text(ev.to_json())
        paths.append(path)
    return paths


def verify_evidence_file(path: Path, trust: TrustRoot) -> str:
    """What the file proves; raises the verification error if it proves nothing."""
    return verify_evidence(SplitViewEvidence.from_json(read_text(path)), trust)


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise errors.InputError(f"cannot read {path}: {e.strerror}") from e
