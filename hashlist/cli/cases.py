"""``hashlist hub cases ...``: the operator's view of victims' cases, and each list's policy.

``policy`` sets how a list takes cases (``auto``: published in batches, nobody
looking; ``review``: each waits for ``approve`` or ``reject``); ``list`` and
``show`` read them. A case's hashes are shown, never anything about the person.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from hashlist.cases import DEFAULT_BATCH_SECONDS, DEFAULT_MAX_SIGNALS, CaseView
from hashlist.cli import exits
from hashlist.cli.options import hub_client, list_id_arg

_PAGE = 500


def add_commands(
    cmds: argparse._SubParsersAction[argparse.ArgumentParser],
    client_args: Callable[[argparse.ArgumentParser], None],
) -> None:
    cases = cmds.add_parser("cases", help="victims' cases: policies, list, show, approve, reject")
    sub = cases.add_subparsers(dest="cases_command", required=True)

    p = sub.add_parser("policy", help="how a list takes cases: auto (batches) or review")
    p.add_argument("list_id", type=list_id_arg)
    p.add_argument("--mode", choices=("auto", "review"), required=True)
    p.add_argument(
        "--batch-seconds",
        type=int,
        default=DEFAULT_BATCH_SECONDS,
        help=f"auto: publish waiting cases this often ({DEFAULT_BATCH_SECONDS})",
    )
    p.add_argument(
        "--max-hashes",
        type=int,
        default=DEFAULT_MAX_SIGNALS,
        help=f"the most hashes one case may carry ({DEFAULT_MAX_SIGNALS})",
    )
    client_args(p)
    p.set_defaults(func=_policy)

    p = sub.add_parser("list", help="cases by number, and every list's policy")
    p.add_argument("--list", dest="list_id", type=list_id_arg, help="only this list's")
    p.add_argument("--state", choices=("received", "approved", "listed", "rejected", "withdrawn"),
                   default="")  # fmt: skip
    p.add_argument("--json", action="store_true", help="one JSON object per case")
    client_args(p)
    p.set_defaults(func=_list)

    p = sub.add_parser("show", help="one case, with its hashes")
    p.add_argument("number")
    p.add_argument("--json", action="store_true")
    client_args(p)
    p.set_defaults(func=_show)

    decisions = (("approve", True, "publish a received case now"),
                 ("reject", False, "close a received case unpublished"))  # fmt: skip
    for name, approve, what in decisions:
        p = sub.add_parser(name, help=what)
        p.add_argument("number")
        p.add_argument(
            "--reason",
            default="",
            required=not approve,
            help="why, for the audit trail" + ("" if approve else " (required)"),
        )
        client_args(p)
        p.set_defaults(func=_decide, approve=approve)


def _policy(args: argparse.Namespace) -> int:
    from hashlist.cases import CasePolicy, PolicyMode

    policy = CasePolicy(args.list_id, PolicyMode(args.mode), args.batch_seconds, args.max_hashes)
    with hub_client(args) as client:
        client.set_case_policy(policy)
    how = (f"published in batches every {policy.batch_seconds} s" if args.mode == "auto"
           else "each waits for approve or reject")  # fmt: skip
    print(f"{args.list_id}: cases {how}; at most {policy.max_signals} hashes a case")
    return exits.OK


def _as_json(v: CaseView) -> str:
    return json.dumps({"number": v.number, "list": v.list_id, "state": v.state.value,
                       "hashes": v.signals, "opened_at": v.opened_at, "version": v.version,
                       "withdrawn_version": v.withdrawn_version})  # fmt: skip


def _line(v: CaseView) -> str:
    opened = time.strftime("%Y-%m-%d %H:%M", time.gmtime(v.opened_at))
    where = f"listed in version {v.version}" if v.version else ""
    if v.withdrawn_version:
        where += f", retracted in version {v.withdrawn_version}"
    return (f"{v.number}  {v.list_id:<14} {v.state.value:<9} {v.signals:>4} hashes  "
            f"opened {opened}  {where}").rstrip()  # fmt: skip


def _list(args: argparse.Namespace) -> int:
    after, shown = "", 0
    with hub_client(args) as client:
        while True:
            page, policies = client.list_cases(args.list_id or "", args.state, after, _PAGE)
            if not after and not args.json:
                for p in policies:
                    print(f"# {p.list_id}: {p.mode.value}"
                          + (f", batches every {p.batch_seconds} s" if p.mode.value == "auto"
                             else "") + f", at most {p.max_signals} hashes a case")  # fmt: skip
            for v in page:
                print(_as_json(v) if args.json else _line(v))
            shown += len(page)
            if len(page) < _PAGE:
                break
            after = page[-1].number
    if not shown and not args.json:
        print("(no cases)")
    return exits.OK


def _show(args: argparse.Namespace) -> int:
    with hub_client(args) as client:
        view, signals = client.show_case(args.number)
    if args.json:
        print(json.dumps({**json.loads(_as_json(view)), "signals": signals}))
        return exits.OK
    print(_line(view))
    for s in signals:
        print(f"  {s}")
    return exits.OK


def _decide(args: argparse.Namespace) -> int:
    with hub_client(args) as client:
        view = client.decide_case(args.number, args.approve, reason=args.reason)
    print(_line(view))
    return exits.OK
