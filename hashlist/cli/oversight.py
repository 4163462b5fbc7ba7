"""``hashlist hub matches|history|review|dismiss|actions``: the operator's oversight
from a terminal, the same calls the console makes.

``review`` exits 1 when the queue is not empty (something to look at), 0 when it is,
so a cron job can alert on it.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import asdict

from hashlist.cli import exits
from hashlist.cli.options import hub_client, list_id_arg
from hashlist.model import HashMatches


def add_commands(
    cmds: argparse._SubParsersAction[argparse.ArgumentParser],
    client_args: Callable[[argparse.ArgumentParser], None],
) -> None:
    p = cmds.add_parser("matches", help="per listed hash: matches per partner, verdicts")
    p.add_argument("--list", dest="list_id", type=list_id_arg, required=True)
    p.add_argument(
        "--review-threshold",
        type=int,
        default=0,
        help="flag when this many distinct partners found it not violating (default 2)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per hash")
    client_args(p)
    p.set_defaults(func=_matches)

    p = cmds.add_parser("history", help="a list's versions: when, how many added and retracted")
    p.add_argument("--list", dest="list_id", type=list_id_arg, required=True)
    p.add_argument("--limit", type=int, default=20, help="versions shown, newest first")
    client_args(p)
    p.set_defaults(func=_history)

    p = cmds.add_parser("review", help="listed hashes to look at: partners' dissent, floods")
    p.add_argument("--list", dest="list_id", type=list_id_arg, required=True)
    p.add_argument("--review-threshold", type=int, default=0,
                   help="partners finding a hash not violating (default 2)")  # fmt: skip
    p.add_argument("--flood-partners", type=int, default=0,
                   help="partners matching a hash within --flood-hours (default 3)")  # fmt: skip
    p.add_argument("--flood-hours", type=int, default=0, help="default 6")
    p.add_argument("--json", action="store_true", help="one JSON object per item")
    client_args(p)
    p.set_defaults(func=_review)

    p = cmds.add_parser("dismiss", help="take a hash off the review queue (until news on it)")
    p.add_argument("--list", dest="list_id", type=list_id_arg, required=True)
    p.add_argument("signal")
    p.add_argument("--reason", required=True, help="why it stays listed (audit trail)")
    client_args(p)
    p.set_defaults(func=_dismiss)

    p = cmds.add_parser("actions", help="the audit trail: who did what, when and why")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="one JSON object per action")
    client_args(p)
    p.set_defaults(func=_actions)


def _when(t: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + "Z" if t else "(not kept)"


def _history(args: argparse.Namespace) -> int:
    with hub_client(args) as client:
        found = client.history(args.list_id, limit=args.limit)
    print(f"{'version':>8}  {'published (UTC)':<21} {'added':>9} {'retracted':>9}")
    for v in found:
        print(f"{v.version:>8}  {_when(v.published_at):<21} {v.added:>9,} {v.removed:>9,}")
    if not found:
        print(f"({args.list_id} has no versions yet)")
    return exits.OK


def _review(args: argparse.Namespace) -> int:
    with hub_client(args) as client:
        items = client.review(args.list_id, review_threshold=args.review_threshold,
                              flood_partners=args.flood_partners,
                              flood_hours=args.flood_hours)  # fmt: skip
    for i in items:
        if args.json:
            print(json.dumps({**asdict(i), "reasons": [r.value for r in i.reasons],
                              "partners": dict(i.partners)}))  # fmt: skip
            continue
        who = ", ".join(f"{p} {n}" for p, n in i.partners)
        print(
            f"{i.signal}\n  {', '.join(r.value for r in i.reasons)}: matches {who}; "
            f"removed {i.removed}, not violating {i.not_violating} "
            f"({i.dissenters} partners); {i.recent_partners} partners recently"
        )
    if not args.json:
        print(f"{len(items)} on the review queue of {args.list_id}" + (
            f"; retract: hashlist hub publish --list {args.list_id} --remove SIGNAL --reason "
            f"...; or: hashlist hub dismiss --list {args.list_id} SIGNAL --reason ..."
            if items else ""))  # fmt: skip
    return exits.NEGATIVE if items else exits.OK


def _dismiss(args: argparse.Namespace) -> int:
    with hub_client(args) as client:
        client.dismiss(args.list_id, args.signal, reason=args.reason)
    print("dismissed: off the review queue until a new report or verdict on it")
    return exits.OK


def _actions(args: argparse.Namespace) -> int:
    with hub_client(args) as client:
        found = client.actions(limit=args.limit)
    for a in found:
        if args.json:
            print(json.dumps(asdict(a)))
            continue
        outcome = "outcome unknown (the hub stopped)" if a.outcome == "started" else a.outcome
        print(
            f"{a.id:>6} {_when(a.at)} {a.who}: {a.action} {a.target}"
            + (f" (why: {a.reason})" if a.reason else "")
            + f"\n       {outcome}"
        )
    return exits.OK


def _matches(args: argparse.Namespace) -> int:
    with hub_client(args) as client:
        found = client.matches(args.list_id, args.review_threshold)
    if args.json:
        for h in found:
            print(json.dumps({"signal": h.signal, "partners": dict(h.partners),
                              "removed": h.removed, "not_violating": h.not_violating,
                              "review": h.review}))  # fmt: skip
        return exits.OK
    print(format_matches(args.list_id, found))
    return exits.OK


def format_matches(list_id: str, found: list[HashMatches]) -> str:
    lines = [f"{'listed hash':<30} {'matches by partner':<32} {'removed':>7} {'not viol.':>9}"]
    # Flagged hashes first, then the most matched.
    for h in sorted(found, key=lambda h: (not h.review, -sum(n for _, n in h.partners), h.signal)):
        who = ", ".join(f"{p} {n}" for p, n in h.partners)
        flag = "  REVIEW" if h.review else ""
        lines.append(f"{h.signal[:27] + '...':<30} {who:<32} {h.removed:>7} "
                     f"{h.not_violating:>9}{flag}")  # fmt: skip
    if not found:
        lines.append(f"(no matches reported on {list_id} yet)")
    if any(h.review for h in found):
        lines.append(f"to retract a flagged hash: hashlist hub publish --list {list_id} "
                     "--remove <signal>")  # fmt: skip
    return "\n".join(lines)
