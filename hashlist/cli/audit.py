"""``hashlist audit ...``: an auditor's checks of the hub and of a node's replica.

* ``replay --list L``: replay a list's whole history; checkpoints seen are
  kept in ``--audit-dir``, so a later run catches a rewritten history.
* ``verify-replica NODE.db``: a node's rows against the signed history.
* ``export --list L --out DIR`` / ``verify-bundle DIR``: a folder that
  replays offline with only the trust root.
* ``compare`` / ``verify-evidence``: catching a split view (``auditor.compare``).

Every verification failure exits with its own status (``exits.VERIFICATION_STATUSES``);
``compare`` exits ``UNDECIDED`` when some pairs could not be compared.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hashlist import errors
from hashlist.cli import exits
from hashlist.cli.options import hub_client, hub_options, list_id_arg, trust_root_option

if TYPE_CHECKING:
    from hashlist.audit import ReplayReport
    from hashlist.client import HubClient
    from hashlist.trustroot import TrustRoot


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="verify the hub's history or a node's replica")
    cmds = audit.add_subparsers(dest="audit_command", required=True)

    def options(p: argparse.ArgumentParser, *, offline: bool = False) -> None:
        trust_root_option(p)
        p.add_argument("--json", action="store_true", help="one JSON object per result")
        if not offline:
            hub_options(p, role="auditor")

    p = cmds.add_parser("replay", help="replay and verify a list's whole history")
    p.add_argument("--list", dest="list_id", type=list_id_arg, required=True)
    p.add_argument("--audit-dir", type=Path, default=Path("audit"), help="notes seen so far")
    options(p)
    p.set_defaults(func=_replay)

    p = cmds.add_parser("export", help="write a self-contained, offline-verifiable bundle")
    p.add_argument("--list", dest="list_id", type=list_id_arg, required=True)
    p.add_argument("--out", type=Path, required=True, help="a new folder")
    p.add_argument("--audit-dir", type=Path, default=Path("audit"), help="notes seen so far")
    options(p)
    p.set_defaults(func=_export)

    p = cmds.add_parser("verify-bundle", help="replay an exported bundle offline")
    p.add_argument("bundle", type=Path)
    options(p, offline=True)
    p.set_defaults(func=_verify_bundle)

    p = cmds.add_parser("verify-replica", help="check a node's SQLite rows against the log")
    p.add_argument("database", type=Path)
    p.add_argument(
        "--list", dest="list_id", type=list_id_arg, help="only this list (default: every list)"
    )
    options(p)
    p.set_defaults(func=_verify_replica)

    p = cmds.add_parser("compare", help="compare checkpoints seen by nodes and witnesses")
    p.add_argument("--list", dest="list_id", type=list_id_arg, required=True)
    p.add_argument("--status", type=Path, action="append", default=[],
                   help="'hashlist node status --json' output of a node (repeatable)")  # fmt: skip
    p.add_argument("--note", type=Path, action="append", default=[],
                   help="a signed checkpoint note file (repeatable)")  # fmt: skip
    p.add_argument("--witness", action="append", default=[], help="https:// URL (repeatable)")
    p.add_argument("--witness-ca", type=Path, action="append", default=[])
    p.add_argument("--offline", action="store_true", help="do not ask the hub for its view")
    p.add_argument("--evidence-dir", type=Path, default=Path("evidence"))
    options(p)
    p.set_defaults(func=_compare)

    p = cmds.add_parser("verify-evidence", help="check split-view evidence offline")
    p.add_argument("evidence", type=Path, nargs="+")
    options(p, offline=True)
    p.set_defaults(func=_verify_evidence)


def _print(args: argparse.Namespace, ok: bool, fields: dict[str, object], text: str) -> None:
    print(json.dumps({"ok": ok, **fields}) if args.json else text)


def _fail(args: argparse.Namespace, list_id: str, e: errors.HashlistError) -> int:
    kind = type(e).__name__
    _print(args, False, {"list": list_id, "error": kind, "message": str(e)},
           f"{list_id}: FAILED {kind}: {e}")  # fmt: skip
    return exits.exit_status(e)


def _trust(args: argparse.Namespace, hub: HubClient | None = None) -> TrustRoot:
    """``--trust-root``, followed along the hub's rotations when connected."""
    return _trust_chain(args, hub)[-1]


def _trust_chain(args: argparse.Namespace, hub: HubClient | None = None) -> list[TrustRoot]:
    """``--trust-root`` and, when connected, every newer version the hub serves."""
    from auditor.history import trust_chain
    from hashlist.trustroot import load_trust_root

    trust = load_trust_root(args.trust_root)
    return [trust] if hub is None else trust_chain(trust, hub, int(time.time()))


def _replay(args: argparse.Namespace) -> int:
    from auditor.replay import replay_list
    from hashlist.progress import Deferred

    shown = Deferred(f"replaying {args.list_id}", "versions")
    with hub_client(args) as hub:
        try:
            report = replay_list(hub, _trust_chain(args, hub), args.list_id, args.audit_dir,
                                 int(time.time()), on_leaf=shown)  # fmt: skip
        except errors.VerificationError as e:
            return _fail(args, args.list_id, e)
        finally:
            shown.close()
    _print(args, True, _replay_fields(report), _replay_text(report))
    return exits.OK


def _replay_fields(r: ReplayReport) -> dict[str, object]:
    return {"list": r.list_id, "size": r.size, "root": r.root.hex(),
            "state_digest": r.state_digest.hex(), "hashes": r.hashes,
            "earlier_checkpoints": r.earlier_checkpoints}  # fmt: skip


def _replay_text(r: ReplayReport) -> str:
    digest = r.state_digest.hex()[:16]
    return (
        f"{r.list_id}: OK: {r.size} versions replayed; every leaf hash, root and state "
        f"digest recomputed; {r.hashes} hashes listed; digest {digest}...; "
        f"consistent with {r.earlier_checkpoints} checkpoint(s) seen on earlier runs"
    )


def _export(args: argparse.Namespace) -> int:
    from auditor.replay import export_list
    from hashlist.progress import Deferred

    shown = Deferred(f"exporting {args.list_id}", "versions")
    with hub_client(args) as hub:
        try:
            size = export_list(hub, _trust_chain(args, hub), args.list_id, args.audit_dir,
                               args.out, on_leaf=shown)  # fmt: skip
        finally:
            shown.close()
    print(f"{args.list_id}: {size} versions exported to {args.out}")
    print(f"check it anywhere: hashlist audit verify-bundle {args.out} --trust-root TRUST")
    return exits.OK


def _verify_bundle(args: argparse.Namespace) -> int:
    from auditor.bundle import read_bundle
    from auditor.replay import replay_bundle

    bundle = read_bundle(args.bundle)
    try:
        report = replay_bundle(bundle, _trust(args))
    except errors.VerificationError as e:
        return _fail(args, bundle.list_id, e)
    _print(args, True, _replay_fields(report), _replay_text(report))
    return exits.OK


def _verify_replica(args: argparse.Namespace) -> int:
    from auditor.replay import verify_replica
    from node.store import SqliteReplicaReader

    replica = SqliteReplicaReader(args.database)  # read-only; a missing file is an error
    worst = exits.OK
    try:
        lists = [args.list_id] if args.list_id else replica.lists()
        with hub_client(args) as hub:
            trust = _trust(args, hub)
            for list_id in lists:
                try:
                    r = verify_replica(replica, hub, trust, list_id)
                except errors.VerificationError as e:
                    worst = max(worst, _fail(args, list_id, e))
                    continue
                _print(args, True, {"list": list_id, "version": r.size, "rows": r.rows,
                                    "state_digest": r.digest.hex()},
                       f"{list_id}: OK: {r.rows} rows hash to the state digest the signed "
                       f"history commits to at version {r.size}")  # fmt: skip
    finally:
        replica.close()
    return worst


def _compare(args: argparse.Namespace) -> int:
    from auditor.compare import gather, hub_view, write_evidence
    from hashlist.evidence import find_split_views
    from hashlist.witness_client import WitnessClient

    trust, view = _trust(args), None
    if not args.offline:
        with hub_client(args) as hub:
            trust = _trust(args, hub)
            view = hub_view(hub, trust, args.list_id)
    witnesses = [WitnessClient(url, args.witness_ca) for url in args.witness]
    sightings = gather(args.list_id, trust, status_files=args.status, note_files=args.note,
                       witnesses=witnesses)  # fmt: skip
    result = find_split_views(sightings, trust, view)
    for s, why in result.unsigned:
        print(f"ignored {s.source}: {why}")
    for s in result.consistent:
        print(f"consistent: {s.source}")
    for small, large in result.undecided:
        print(f"UNDECIDED: {small.source} and {large.source}: no leaves to compare them")
    paths = write_evidence(result, args.evidence_dir, args.list_id, int(time.time()))
    for ev, path in zip(result.split_views, paths, strict=True):
        print(f"SPLIT VIEW: {ev.smaller.source} vs {ev.larger.source}: evidence in {path}")
    if args.json:
        print(json.dumps({"list": args.list_id, "split_views": len(result.split_views),
                          "consistent": len(result.consistent),
                          "undecided": len(result.undecided)}))  # fmt: skip
    if result.split_views:
        return exits.SPLIT_VIEW
    return exits.UNDECIDED if result.undecided else exits.OK


def _verify_evidence(args: argparse.Namespace) -> int:
    from auditor.compare import verify_evidence_file

    trust = _trust(args)
    worst = exits.OK
    for path in args.evidence:
        try:
            print(f"{path}: PROVEN: {verify_evidence_file(path, trust)}")
        except errors.VerificationError as e:
            print(f"{path}: NOT PROVEN: {type(e).__name__}: {e}")
            worst = exits.NEGATIVE
    return worst
