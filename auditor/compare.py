"""``hashlist audit compare`` and ``audit verify-evidence``: catching a split view.

``compare`` gathers signed checkpoints of one list from

* nodes: the JSON lines of ``hashlist node status --json`` (``--status``),
  which partners send to their auditor;
* witnesses: ``GET /checkpoint/<origin>`` on each ``--witness`` URL;
* signed note files (``--note``);
* the hub itself with the auditor's certificate, unless ``--offline``: its
  newest checkpoint and every leaf, which lets checkpoints of different
  sizes be compared, not only equal ones;

and hands them to the pure ``hashlist.evidence.find_split_views``. Each
inconsistency found is written to ``--evidence-dir`` as one JSON file that
``verify-evidence`` checks on any machine with only the trust root.

Exit status: 0 all consistent; 10 split view found (evidence written);
4 some pairs could not be decided (their sizes exceed the hub's view).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from auditor.common import client_from, common_options, followed_trust, history
from hashlist import errors
from hashlist.evidence import (
    Sighting,
    SignedTree,
    SplitViewEvidence,
    find_split_views,
    verify_evidence,
)
from hashlist.trustroot import TrustRoot, load_trust_root
from witness.client import WitnessClient

EXIT_SPLIT_VIEW = 10
EXIT_UNDECIDED = 4


def add_commands(cmds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = cmds.add_parser("compare", help="compare checkpoints seen by nodes and witnesses")
    p.add_argument("--list", dest="list_id", required=True)
    p.add_argument("--status", type=Path, action="append", default=[],
                   help="'hashlist node status --json' output of a node (repeatable)")  # fmt: skip
    p.add_argument("--note", type=Path, action="append", default=[],
                   help="a signed checkpoint note file (repeatable)")  # fmt: skip
    p.add_argument("--witness", action="append", default=[], help="https:// URL (repeatable)")
    p.add_argument("--witness-ca", type=Path, action="append", default=[])
    p.add_argument("--offline", action="store_true", help="do not ask the hub for its view")
    p.add_argument("--evidence-dir", type=Path, default=Path("evidence"))
    common_options(p)
    p.set_defaults(func=_compare)

    p = cmds.add_parser("verify-evidence", help="check split-view evidence offline")
    p.add_argument("evidence", type=Path, nargs="+")
    common_options(p, offline=True)
    p.set_defaults(func=_verify_evidence)


def gather(args: argparse.Namespace, trust: TrustRoot) -> list[Sighting]:
    sightings = []
    for path in args.status:
        for n, line in enumerate(_read(path).splitlines(), 1):
            try:
                row = json.loads(line)
                if row["list_id"] == args.list_id and row["checkpoint"]:
                    source = f"node {row['node']} ({path}:{n})"
                    sightings.append(Sighting(source, row["checkpoint"].encode()))
            except (ValueError, KeyError, TypeError) as e:
                raise errors.InputError(f"{path}:{n}: not a 'node status --json' line") from e
    sightings += [Sighting(f"note {p}", _read(p).encode()) for p in args.note]
    origin = trust.origin(args.list_id)
    for url in args.witness:
        note = WitnessClient(url, args.witness_ca).latest(origin)
        if note is not None:
            sightings.append(Sighting(f"witness {url}", note))
    return sightings


def _compare(args: argparse.Namespace) -> int:
    trust = load_trust_root(args.trust_root)
    view = None
    if not args.offline:
        with client_from(args) as hub:
            trust = followed_trust(args, hub)
            note, leaves = history(hub, trust, args.list_id)
            view = SignedTree(Sighting(f"hub {args.hub}", note), leaves, trust)
    sightings = gather(args, trust)
    result = find_split_views(sightings, trust, view)
    for s, why in result.unsigned:
        print(f"ignored {s.source}: {why}")
    for s in result.consistent:
        print(f"consistent: {s.source}")
    for small, large in result.undecided:
        print(f"UNDECIDED: {small.source} and {large.source}: no leaves to compare them")
    if result.split_views:
        args.evidence_dir.mkdir(parents=True, exist_ok=True)
    for i, ev in enumerate(result.split_views):
        path = args.evidence_dir / f"{args.list_id}-{int(time.time())}-{i}.json"
        path.write_text(ev.to_json())
        print(f"SPLIT VIEW: {ev.smaller.source} vs {ev.larger.source}: evidence in {path}")
    if args.json:
        print(json.dumps({"list": args.list_id, "split_views": len(result.split_views),
                          "consistent": len(result.consistent),
                          "undecided": len(result.undecided)}))  # fmt: skip
    if result.split_views:
        return EXIT_SPLIT_VIEW
    return EXIT_UNDECIDED if result.undecided else 0


def _verify_evidence(args: argparse.Namespace) -> int:
    trust = load_trust_root(args.trust_root)
    worst = 0
    for path in args.evidence:
        try:
            proven = verify_evidence(SplitViewEvidence.from_json(_read(path)), trust)
            print(f"{path}: PROVEN: {proven}")
        except errors.VerificationError as e:
            print(f"{path}: NOT PROVEN: {type(e).__name__}: {e}")
            worst = 1
    return worst


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise errors.InputError(f"cannot read {path}: {e.strerror}") from e
