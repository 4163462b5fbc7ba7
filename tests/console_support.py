"""A real hub seeded for the operator's console, and the console serving it.

Two lists, three partners, cases, matches and verdicts, all made through the same
RPCs a real federation uses (partners report with their own certificates, the
intake opens cases with its own). ``SEEDED`` holds what each view must show.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from hashlist.cases import CasePolicy, CaseState, PolicyMode, new_case_number, new_pin
from hashlist.checkpoint import verify_checkpoint
from hashlist.cli.demo import wait_until
from hashlist.client import HubClient
from hashlist.model import Report, Verdict
from hashlist.note import COSIGNATURE_V1, Signer
from hashlist.trustroot import TrustRoot
from server.console.config import ConsoleConfig
from server.console.serve import RunningConsole, running_console
from server.serve import RunningHub
from tests.support import client, hub_config, hub_running, witness_config
from witness.server import running_witness

AUTO, REVIEW = "takeitdown", "stopncii"
MD5 = [f"md5:{i:032x}" for i in range(1, 30)]
FLOOD, DISSENT, REMOVED = MD5[1], MD5[2], MD5[0]


class SEEDED:
    # list: (version, hashes) after seeding (the auto list also holds the listed case's)
    lists: ClassVar[dict[str, tuple[int, int]]] = {AUTO: (3, 6), REVIEW: (1, 4)}
    # partner: {list: (verified version, lag)}
    progress: ClassVar[dict[str, dict[str, tuple[int, int]]]] = {
        "facebook": {AUTO: (3, 0), REVIEW: (1, 0)}, "instagram": {AUTO: (2, 1)},
        "yubo": {AUTO: (0, 3), REVIEW: (0, 1)}}  # fmt: skip
    stale: ClassVar[set[tuple[str, str]]] = {("yubo", AUTO), ("yubo", REVIEW)}  # never reported
    # partner: matches on the auto list (removed, not violating)
    matches: ClassVar[dict[str, tuple[int, int, int]]] = {
        "facebook": (4, 2, 1), "instagram": (2, 0, 1), "yubo": (1, 0, 0)}  # fmt: skip
    review: ClassVar[dict[str, tuple[str, ...]]] = {FLOOD: ("flood",), DISSENT: ("dissent",)}


@dataclass
class Seeded:
    hub: RunningHub
    trust: TrustRoot
    trust_path: Path
    pki: Path
    queued: list[str]  # case numbers waiting for review
    withdrawn: str

    def client(self, who: str) -> HubClient:
        return client(self.hub.port, self.pki, who)


def _report(list_id: str, signal: str, version: int, at: int) -> Report:
    return Report(uuid.uuid4().hex, list_id, signal, 0, version, "", at)


def seed(hub: RunningHub, pki: Path, now: int) -> tuple[list[str], str]:
    """Fill the hub; returns the queued case numbers and the withdrawn one."""
    with client(hub.port, pki, "operator") as op, client(hub.port, pki, "intake") as intake:
        op.create_list(AUTO, reason="Take It Down's list")
        op.create_list(REVIEW, reason="StopNCII's list")
        for partner, lists in (("facebook", (AUTO, REVIEW)), ("instagram", (AUTO,)),
                               ("yubo", (AUTO, REVIEW))):  # fmt: skip
            for list_id in lists:
                op.grant(list_id, partner, new_partner=True, reason="signed the agreement")
        op.publish(AUTO, MD5[:6], reason="the first batch")
        op.publish(AUTO, [], MD5[5:6], reason="a duplicate")
        op.publish(REVIEW, MD5[10:14], reason="the first batch")
        op.set_case_policy(CasePolicy(AUTO, PolicyMode.AUTO, batch_seconds=1))
        op.set_case_policy(CasePolicy(REVIEW, PolicyMode.REVIEW))
        queued = [intake.open_case(REVIEW, new_case_number(), new_pin(), [s]).number
                  for s in MD5[20:22]]  # fmt: skip
        listed_pin, withdrawn_pin = new_pin(), new_pin()
        listed = intake.open_case(AUTO, new_case_number(), listed_pin, [MD5[22]])
        wait_until(lambda: intake.get_case(listed.number, listed_pin).state is CaseState.LISTED,
                   10, "the auto list's batch")  # fmt: skip
        # Withdrawn from the review list before anyone decided: nothing to retract.
        withdrawn = intake.open_case(REVIEW, new_case_number(), withdrawn_pin, [MD5[23]])
        intake.withdraw_case(withdrawn.number, withdrawn_pin)
    with client(hub.port, pki, "facebook") as fb:
        fb.report_progress(AUTO, 3)
        fb.report_progress(REVIEW, 1)
        reports = [
            _report(AUTO, REMOVED, 1, now - 86_400 * 3),
            _report(AUTO, REMOVED, 1, now),
            _report(AUTO, FLOOD, 1, now - 600),
            _report(AUTO, DISSENT, 1, now - 86_400),
        ]
        verdicts = [Verdict(uuid.uuid4().hex, r.report_id, "removed", now) for r in reports[:2]]
        verdicts.append(Verdict(uuid.uuid4().hex, reports[3].report_id, "not_violating", now))
        fb.submit(reports, verdicts)  # fmt: skip
    with client(hub.port, pki, "instagram") as ig:
        ig.report_progress(AUTO, 2)
        reports = [_report(AUTO, FLOOD, 1, now - 300), _report(AUTO, DISSENT, 1, now - 86_400)]
        ig.submit(reports, [Verdict(uuid.uuid4().hex, reports[1].report_id, "not_violating",
                                    now)])  # fmt: skip
    with client(hub.port, pki, "yubo") as yubo:
        yubo.submit([_report(AUTO, FLOOD, 1, now - 60)], [])
    return queued, withdrawn.number


@contextmanager
def seeded_hub(folder: Path, pki: Path, now: int) -> Iterator[Seeded]:
    """The seeded hub, its checkpoints cosigned by a real witness (which the trust
    root names, so the console shows its cosignatures' age)."""
    signer = Signer.generate("witness.example", COSIGNATURE_V1)
    config, trust = hub_config(folder / "hub", pki)
    trust = dataclasses.replace(trust, witness_keys=(signer.verifier(),))
    trust_path = folder / "trust.toml"
    trust_path.write_text(trust.to_toml())
    with running_witness(witness_config(folder / "witness", pki, signer, trust)) as port:
        config = dataclasses.replace(
            config, witnesses=(f"https://127.0.0.1:{port}",), witness_ca=(pki / "ca.pem",),
            witness_keys=(str(signer.verifier()),), witness_retry_seconds=0.2,
        )  # fmt: skip
        with hub_running(config) as hub:
            queued, withdrawn = seed(hub, pki, now)
            with client(hub.port, pki, "operator") as op:
                for list_id in (AUTO, REVIEW):
                    wait_until(lambda lid=list_id: bool(verify_checkpoint(  # type: ignore[misc]
                        op.checkpoint(lid), trust, trust.origin(lid)).witnesses),
                        10, "the witness's cosignature")  # fmt: skip
            yield Seeded(hub, trust, trust_path, pki, queued, withdrawn)


def console_config(seeded: Seeded, **overrides: object) -> ConsoleConfig:
    fields: dict[str, object] = {
        "hub": f"127.0.0.1:{seeded.hub.port}", "hub_ca": seeded.pki / "ca.pem",
        "cert": seeded.pki / "operator.pem", "key": seeded.pki / "operator.key",
        "trust_root": seeded.trust_path, "listen": "127.0.0.1:0", "activity_days": 7,
    }  # fmt: skip
    return ConsoleConfig(**{**fields, **overrides})  # type: ignore[arg-type]


@contextmanager
def console_for(seeded: Seeded, **overrides: object) -> Iterator[RunningConsole]:
    from hashlist.cli.console import bundle_exporter

    config = console_config(seeded, **overrides)
    exporter = bundle_exporter(config.hub, config.hub_ca, config.cert, config.key,
                               config.trust_root)  # fmt: skip
    with running_console(config, exporter=exporter) as running:
        yield running
