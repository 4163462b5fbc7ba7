"""``hashlist audit ...``: an auditor's checks of the hub and of a node's replica.

* ``audit replay --list L``: fetch the list's whole history with an auditor
  certificate and replay it (``hashlist.audit.replay_history``). Every
  checkpoint seen is kept in ``--audit-dir`` (one file per signed note), so a
  later run catches a rewritten history; a refused history's notes are kept
  under ``evidence/``.
* ``audit verify-replica NODE.db``: recompute each list's state digest from
  the node's rows and check it against the signed history at its version.
* ``audit export --list L --out DIR`` / ``audit verify-bundle DIR``: a
  self-contained folder (the signed checkpoint, every leaf, the checkpoints
  the auditor saw earlier) that replays offline with only the trust root.

Exit status: 0 when everything verifies, otherwise one status per kind of
failure (``EXIT_CODES``), so scripts can tell a rewrite from a network error.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from auditor import compare
from auditor.bundle import read_bundle, write_bundle
from auditor.common import client_from, common_options, followed_trust, history
from hashlist import errors
from hashlist.audit import ReplayReport, ReplicaReport, check_replica, replay_history
from hashlist.checkpoint import verify_checkpoint
from hashlist.client import HubClient
from hashlist.trustroot import TrustRoot, load_trust_root
from hashlist.verify import TrustedState
from node.store import NodeStore

EXIT_CODES: tuple[tuple[type[errors.HashlistError], int], ...] = (
    (errors.EquivocationError, 10),  # history rewritten / two roots for one size
    (errors.RollbackError, 11),
    (errors.BadSignatureError, 12),  # includes too few witness cosignatures
    (errors.OriginMismatchError, 13),
    (errors.DigestMismatchError, 14),  # a set digest (or a replica's rows) does not add up
    (errors.BadProofError, 15),
    (errors.MalformedDeltaError, 16),
    (errors.StaleCheckpointError, 17),
    (errors.FutureTimestampError, 18),
    (errors.VerificationError, 19),
    (errors.UnavailableError, 3),
    (errors.HashlistError, 2),
)


def exit_code(error: errors.HashlistError) -> int:
    return next(code for kind, code in EXIT_CODES if isinstance(error, kind))


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="verify the hub's history or a node's replica")
    cmds = audit.add_subparsers(dest="audit_command", required=True)

    p = cmds.add_parser("replay", help="replay and verify a list's whole history")
    p.add_argument("--list", dest="list_id", required=True)
    p.add_argument("--audit-dir", type=Path, default=Path("audit"), help="notes seen so far")
    common_options(p)
    p.set_defaults(func=_replay)

    p = cmds.add_parser("export", help="write a self-contained, offline-verifiable bundle")
    p.add_argument("--list", dest="list_id", required=True)
    p.add_argument("--out", type=Path, required=True, help="a new folder")
    p.add_argument("--audit-dir", type=Path, default=Path("audit"), help="notes seen so far")
    common_options(p)
    p.set_defaults(func=_export)

    p = cmds.add_parser("verify-bundle", help="replay an exported bundle offline")
    p.add_argument("bundle", type=Path)
    common_options(p, offline=True)
    p.set_defaults(func=_verify_bundle)

    p = cmds.add_parser("verify-replica", help="check a node's SQLite rows against the log")
    p.add_argument("database", type=Path)
    p.add_argument("--list", dest="list_id", help="only this list (default: every list)")
    common_options(p)
    p.set_defaults(func=_verify_replica)
    compare.add_commands(cmds)


def _print(args: argparse.Namespace, ok: bool, fields: dict[str, object], text: str) -> None:
    if args.json:
        print(json.dumps({"ok": ok, **fields}))
    else:
        print(text)


def _fail(args: argparse.Namespace, list_id: str, e: errors.HashlistError) -> int:
    kind = type(e).__name__
    _print(args, False, {"list": list_id, "error": kind, "message": str(e)},
           f"{list_id}: FAILED {kind}: {e}")  # fmt: skip
    return exit_code(e)


def _seen(audit_dir: Path, list_id: str) -> list[bytes]:
    """The signed notes earlier runs verified for ``list_id``, oldest first."""
    return [p.read_bytes() for p in sorted((audit_dir / list_id).glob("*.note"))]


def _replay(args: argparse.Namespace) -> int:
    folder = args.audit_dir / args.list_id
    folder.mkdir(parents=True, exist_ok=True)
    seen = _seen(args.audit_dir, args.list_id)
    note = b""
    with client_from(args) as hub:
        try:
            trust = followed_trust(args, hub)
            note, leaves = history(hub, trust, args.list_id)
            now = int(time.time())
            report = replay_history(args.list_id, note, leaves, trust=trust, now=now,
                                    seen_notes=seen)  # fmt: skip
        except errors.VerificationError as e:
            _keep_evidence(folder, note, e)
            return _fail(args, args.list_id, e)
    (folder / f"{report.size:012d}-{report.root.hex()[:16]}.note").write_bytes(note)
    _print(args, True, _replay_fields(report), _replay_text(report))
    return 0


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


def _keep_evidence(folder: Path, note: bytes, e: errors.VerificationError) -> None:
    evidence = folder / "evidence"
    evidence.mkdir(exist_ok=True)
    stamp = f"{int(time.time())}-{type(e).__name__}"
    (evidence / f"{stamp}.served.note").write_bytes(note)
    if isinstance(e, errors.EquivocationError):
        (evidence / f"{stamp}.trusted.note").write_bytes(e.trusted_note)
    (evidence / f"{stamp}.txt").write_text(f"{type(e).__name__}: {e}\n")


def _export(args: argparse.Namespace) -> int:
    with client_from(args) as hub:
        trust = followed_trust(args, hub)
        note, leaves = history(hub, trust, args.list_id)
        seen = _seen(args.audit_dir, args.list_id)
        size = write_bundle(args.out, args.list_id, note, leaves, seen)
    print(f"{args.list_id}: {size} versions exported to {args.out}")
    print(f"check it anywhere: hashlist audit verify-bundle {args.out} --trust-root TRUST")
    return 0


def _verify_bundle(args: argparse.Namespace) -> int:
    trust = load_trust_root(args.trust_root)
    list_id, note, leaves, seen = read_bundle(args.bundle)
    try:
        # Offline, "now" is the bundle's own newest cosignature: a bundle stays
        # verifiable after the trust root's maximum age has passed.
        at = verify_checkpoint(note, trust, trust.origin(list_id)).cosigned_at or 0
        report = replay_history(list_id, note, leaves, trust=trust, now=at, seen_notes=seen)
    except errors.VerificationError as e:
        return _fail(args, list_id, e)
    _print(args, True, _replay_fields(report), _replay_text(report))
    return 0


def _verify_replica(args: argparse.Namespace) -> int:
    if not args.database.exists():
        raise errors.InputError(f"{args.database}: no such node database")
    store = NodeStore(args.database)
    worst = 0
    try:
        lists = [args.list_id] if args.list_id else _lists(store)
        with client_from(args) as hub:
            trust = followed_trust(args, hub)
            for list_id in lists:
                worst = max(worst, _check_one(args, store, hub, trust, list_id))
    finally:
        store.close()
    return worst


def _lists(store: NodeStore) -> list[str]:
    return [r[0] for r in store.db.execute("SELECT list_id FROM lists ORDER BY list_id")]


def _check_one(
    args: argparse.Namespace, store: NodeStore, hub: HubClient, trust: TrustRoot, list_id: str
) -> int:
    state: TrustedState = store.state(list_id)
    try:
        leaf, proof = b"", []
        if state.size:
            last = state.size - 1
            leaf = next(x for _, batch in hub.leaves(list_id, last, state.size) for x in batch)
            proof = hub.inclusion_proof(list_id, last, state.size)
        report: ReplicaReport = check_replica(
            state, store.signals(list_id), trust=trust, last_leaf=leaf, last_leaf_proof=proof
        )
    except errors.VerificationError as e:
        return _fail(args, list_id, e)
    _print(args, True, {"list": list_id, "version": report.size, "rows": report.rows,
                        "state_digest": report.digest.hex()},
           f"{list_id}: OK: {report.rows} rows hash to the state digest the signed history "
           f"commits to at version {report.size}")  # fmt: skip
    return 0
