"""Matching at the node and reports to the hub, over a real hub with mTLS.

The node side is the real thing minus the process: a ``Syncer`` following
the hub into a SQLite replica, the ``Matcher`` observing every commit, the
outbox and its sender, and the local Matcher gRPC service on a Unix socket.
"""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from hashlib import md5
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from hashlist.client import HubClient
from hashlist.clock import FixedClock, SystemClock
from hashlist.errors import (
    ConfigError,
    InputError,
    InvalidSignalError,
    NotFoundError,
    UnavailableError,
)
from hashlist.hashing import hash_bytes
from hashlist.model import Report, Verdict
from hashlist.synthetic import edited_copy, jpeg_bytes, synthetic_image
from node.config import NodeConfig, outbox_path
from node.matcher import Matcher, MatchSettings, open_matcher
from node.outbox import Outbox, OutboxSender, new_id
from node.service import (
    MATCHER_SERVICE,
    MatcherClient,
    matcher_health,
    running_matcher,
    set_matcher_health,
)
from node.store import SqliteNodeStore
from node.sync import Syncer
from server.config import HubConfig
from tests.support import client, hub_config, hub_running, make_pki

LIST = "takeitdown"


class Recorder(grpc.UnaryUnaryClientInterceptor):
    """Keeps the serialized bytes of every request the node sends to the hub."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def intercept_unary_unary(
        self, continuation: Callable[[Any, Any], Any], details: Any, request: Any
    ) -> Any:
        self.sent.append(request.SerializeToString())
        return continuation(details, request)


@dataclass
class Node:
    matcher: Matcher
    store: SqliteNodeStore
    syncer: Syncer
    sender: OutboxSender
    hub_client: HubClient
    recorder: Recorder

    def sync(self) -> None:
        assert self.syncer.sync(LIST)


@dataclass
class Rig:
    tmp: Path
    pki: Path
    hub_cfg: HubConfig
    port: int
    operator: HubClient
    node: Node

    def publish(self, adds: list[str], removes: list[str] = ()) -> None:  # type: ignore[assignment]
        self.operator.publish(LIST, adds, removes)
        self.node.sync()


def make_node(tmp: Path, pki: Path, port: int, trust_path: Path, **settings: Any) -> Node:
    config = NodeConfig(
        name="facebook", hub=f"127.0.0.1:{port}", trust_root=trust_path, lists=(LIST,),
        database=tmp / "node.db", tls_cert=pki / "facebook.pem", tls_key=pki / "facebook.key",
        ca=pki / "ca.pem",
    )  # fmt: skip
    from node.daemon import effective_trust

    store = SqliteNodeStore(config.database)
    matcher = open_matcher(
        config.database, config.lists, SystemClock(), MatchSettings(background_merge=False)
    )
    store.observer = matcher
    matcher.load()
    recorder = Recorder()
    hub = client(port, pki, "facebook", interceptors=[recorder])
    syncer = Syncer(config, effective_trust(config), store, hub, SystemClock())
    sender = OutboxSender(matcher.outbox, hub, SystemClock(), batch=3, **settings)
    return Node(matcher, store, syncer, sender, hub, recorder)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    pki = make_pki(tmp_path / "pki")
    hub_cfg, trust = hub_config(tmp_path / "hub", pki)
    trust_path = tmp_path / "trust.toml"
    trust_path.write_text(trust.to_toml())
    with hub_running(hub_cfg) as running:
        operator = client(running.port, pki, "operator")
        operator.create_list(LIST)
        operator.grant(LIST, "facebook", new_partner=True)
        node = make_node(tmp_path, pki, running.port, trust_path)
        yield Rig(tmp_path, pki, hub_cfg, running.port, operator, node)
        node.hub_client.close()
        node.store.close()
        node.matcher.close()
        operator.close()


def listed_images(rig: Rig, seeds: range) -> list[bytes]:
    images = [jpeg_bytes(synthetic_image(s)) for s in seeds]
    rig.publish([sig for im in images for sig in hash_bytes(im).signals])
    return images


def test_edited_copy_matches_by_pdq_and_unrelated_does_not(rig: Rig) -> None:
    listed_images(rig, range(3))
    edited = edited_copy(synthetic_image(1))
    answer = rig.node.matcher.check(content=edited, content_id="upload-1")
    pdq = [m for m in answer.matches if m.signal.startswith("pdq:")]
    assert len(pdq) == 1
    assert 0 < pdq[0].distance <= 31
    assert pdq[0].version == 1
    assert pdq[0].list_id == LIST
    assert rig.node.matcher.check(content=jpeg_bytes(synthetic_image(99))).matches == ()


def test_exact_signals_match_without_the_image(rig: Rig) -> None:
    images = listed_images(rig, range(2))
    h = hash_bytes(images[0])
    answer = rig.node.matcher.check(signals=[f"SHA256:{h.sha256.upper()}"])
    assert [(m.signal, m.distance) for m in answer.matches] == [(f"sha256:{h.sha256}", 0)]


def test_retraction_stops_matching_in_its_step(rig: Rig) -> None:
    images = listed_images(rig, range(2))
    h = hash_bytes(images[0])
    assert h.pdq is not None
    near = f"pdq:{h.pdq[:-1]}{int(h.pdq[-1], 16) ^ 1:x}"  # one bit off
    assert rig.node.matcher.check(signals=[near]).matches
    rig.publish([], [f"pdq:{h.pdq}"])
    assert rig.node.matcher.check(signals=[near]).matches == ()
    # ... and an image re-listed later matches again, by its new version.
    rig.publish([f"pdq:{h.pdq}"])
    assert [m.version for m in rig.node.matcher.check(signals=[near]).matches] == [3]


def test_low_quality_pdq_is_not_near_matched(rig: Rig) -> None:
    images = listed_images(rig, range(1))
    h = hash_bytes(images[0])
    assert h.pdq is not None
    near = f"pdq:{h.pdq[:-1]}{int(h.pdq[-1], 16) ^ 1:x}"
    answer = rig.node.matcher.check(signals=[near], pdq_quality=20)
    assert answer.matches == ()
    assert any("below 50" in n for n in answer.notes)
    exact = rig.node.matcher.check(signals=[f"pdq:{h.pdq}"], pdq_quality=20)
    assert len(exact.matches) == 1  # exact pdq is still an exact lookup


def test_bad_input_is_refused_with_a_reason(rig: Rig) -> None:
    with pytest.raises(InvalidSignalError, match="64 hex digits"):
        rig.node.matcher.check(signals=["pdq:abc"])
    with pytest.raises(InputError, match="bytes or at least one signal"):
        rig.node.matcher.check()
    with pytest.raises(NotFoundError, match="report id"):
        rig.node.matcher.verdict("0" * 32, "removed")
    with pytest.raises(InputError, match="verdict must be"):
        rig.node.matcher.verdict("0" * 32, "maybe")


def test_index_is_rebuilt_from_the_replica_at_start(rig: Rig) -> None:
    images = listed_images(rig, range(2))
    fresh = open_matcher(rig.tmp / "node.db", (LIST,), SystemClock(), MatchSettings())
    try:
        fresh.load()
        assert fresh.check(content=edited_copy(synthetic_image(0))).matches
        assert hash_bytes(images[0]).pdq is not None
    finally:
        fresh.close()


def test_reports_and_verdicts_reach_the_hub_once(rig: Rig) -> None:
    listed_images(rig, range(3))
    node = rig.node
    answers = [node.matcher.check(content=edited_copy(synthetic_image(s))) for s in range(3)]
    report_ids = [m.report_id for a in answers for m in a.matches]
    assert len(report_ids) >= 3
    node.matcher.verdict(report_ids[0], "not_violating")
    while node.sender.drain_once():
        pass
    assert node.matcher.outbox.backlog() == 0
    # A lost acknowledgement means the node sends the same batch again: the
    # hub records nothing twice.
    again = node.hub_client.submit([_report_from_outbox(node, r) for r in report_ids[:2]], [])
    assert again == (0, 0)
    view = {h.signal: h for h in rig.operator.matches(LIST)}
    assert sum(n for h in view.values() for _, n in h.partners) == len(report_ids)
    assert sum(h.not_violating for h in view.values()) == 1


def _report_from_outbox(node: Node, report_id: str) -> Any:
    import json

    from hashlist.model import Report

    with sqlite3.connect(outbox_path(node.store.path)) as db:
        row = db.execute("SELECT body FROM outbox WHERE id=?", (report_id,)).fetchone()
    return Report(**json.loads(row[0]))


def test_one_partner_alone_cannot_flag_a_hash_but_two_partners_can(rig: Rig) -> None:
    listed_images(rig, range(1))
    edited = edited_copy(synthetic_image(0))
    for upload in ("fb-1", "fb-2"):  # one partner, two reports, two not_violating verdicts
        for m in rig.node.matcher.check(content=edited, content_id=upload).matches:
            rig.node.matcher.verdict(m.report_id, "not_violating")
    while rig.node.sender.drain_once():
        pass
    assert not [h for h in rig.operator.matches(LIST) if h.review]
    # A second partner finds the same listed hash not violating.
    signal = next(h.signal for h in rig.operator.matches(LIST) if h.signal.startswith("pdq:"))
    rig.operator.grant(LIST, "instagram", new_partner=True)
    now = int(time.time())
    report = Report(new_id(), LIST, signal, 4, 1, "", now)
    with client(rig.port, rig.pki, "instagram") as ig:
        ig.submit([report], [Verdict(new_id(), report.report_id, "not_violating", now)])
    flagged = [h for h in rig.operator.matches(LIST) if h.review]
    assert [h.signal for h in flagged] == [signal]


def test_only_granted_partners_report(rig: Rig) -> None:
    listed_images(rig, range(1))
    rig.node.matcher.check(content=edited_copy(synthetic_image(0)))
    rig.operator.grant(LIST, "facebook", granted=False)
    assert rig.node.sender.drain_once() > 0  # settled: refused for good, not retried forever
    with sqlite3.connect(outbox_path(rig.node.store.path)) as db:
        row = db.execute("SELECT refused FROM outbox").fetchone()
    assert "may not read" in row[0]


def test_no_image_bytes_or_content_id_reach_the_hub(rig: Rig) -> None:
    listed_images(rig, range(2))
    edited = edited_copy(synthetic_image(1))
    content_id = "fb-photo-1234567890"
    answer = rig.node.matcher.check(content=edited, content_id=content_id)
    for m in answer.matches:
        rig.node.matcher.verdict(m.report_id, "removed")
    while rig.node.sender.drain_once():
        pass
    sent = rig.node.recorder.sent
    assert any(b"pdq:" in s for s in sent)  # reports did go through the recorder
    stream = b"".join(sent)
    assert content_id.encode() not in stream
    for i in range(0, len(edited) - 32, 997):  # no 32-byte window of the image
        assert edited[i : i + 32] not in stream
    assert rig.node.matcher.outbox.content_key(content_id).encode() in stream


def test_reports_survive_an_outage_and_a_node_restart(rig: Rig) -> None:
    listed_images(rig, range(2))
    for seed in range(2):
        rig.node.matcher.check(content=edited_copy(synthetic_image(seed)))
    queued = rig.node.matcher.outbox.backlog()
    assert queued >= 2
    # The hub is unreachable (nothing listens at its address): delivery fails
    # with retries and backoff, and nothing is lost.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        gone = sock.getsockname()[1]
    with client(gone, rig.pki, "facebook") as unreachable:
        rig.node.sender.sink = unreachable
        with pytest.raises(UnavailableError):
            rig.node.sender.drain_once()
    assert rig.node.matcher.outbox.backlog() == queued
    # The node restarts (a new outbox on the same file), the hub comes back.
    reopened = Outbox(outbox_path(rig.tmp / "node.db"))
    sender = OutboxSender(reopened, rig.node.hub_client, FixedClock(0), batch=1)
    while sender.drain_once():
        pass
    assert reopened.backlog() == 0
    total = sum(n for h in rig.operator.matches(LIST) for _, n in h.partners)
    assert total == queued


def test_matcher_service_over_a_unix_socket(rig: Rig) -> None:
    listed_images(rig, range(2))
    address = f"unix:{rig.tmp / 'm.sock'}"
    with (
        running_matcher(rig.node.matcher, address, max_message_bytes=1 << 22) as bound,
        MatcherClient(bound.local, max_message_bytes=1 << 22) as local,
    ):
        answer = local.check(content=edited_copy(synthetic_image(0)), content_id="x")
        assert any(m.signal.startswith("pdq:") for m in answer.matches)
        assert local.verdict(answer.matches[0].report_id, "removed")
        with pytest.raises(InputError, match="not hexadecimal"):  # INVALID_ARGUMENT
            local.check(signals=["md5:zz"])
        with pytest.raises(NotFoundError):
            local.verdict("f" * 32, "removed")


def test_the_matcher_socket_answers_health_checks_and_reflection(rig: Rig) -> None:
    address = f"unix:{rig.tmp / 'h.sock'}"
    health = matcher_health()
    with (
        running_matcher(rig.node.matcher, address, max_message_bytes=1 << 20, health=health) as b,
        grpc.insecure_channel(b.local) as channel,
    ):
        probe: Any = health_pb2_grpc.HealthStub(channel)  # the stubs' types are incomplete

        def status(service: str) -> int:
            request = health_pb2.HealthCheckRequest(service=service)
            return int(probe.Check(request, timeout=5).status)

        assert status(MATCHER_SERVICE) == health_pb2.HealthCheckResponse.NOT_SERVING
        set_matcher_health(health, serving=True)  # what the node does once it is ready
        assert status(MATCHER_SERVICE) == health_pb2.HealthCheckResponse.SERVING
        assert status("") == health_pb2.HealthCheckResponse.SERVING
        ask = reflection_pb2.ServerReflectionRequest(list_services="")
        reflect: Any = reflection_pb2_grpc.ServerReflectionStub(channel)
        answer = next(reflect.ServerReflectionInfo(iter([ask]), timeout=5))
        names = {s.name for s in answer.list_services_response.service}
        assert {MATCHER_SERVICE, "grpc.health.v1.Health"} <= names


def test_matcher_refuses_a_routable_address(rig: Rig) -> None:
    with (
        pytest.raises(ConfigError, match="loopback"),
        running_matcher(rig.node.matcher, "0.0.0.0:0", max_message_bytes=1 << 20),
    ):
        pass


def test_one_content_matching_one_hash_is_reported_once(rig: Rig) -> None:
    listed_images(rig, range(1))
    edited = edited_copy(synthetic_image(0))
    first = rig.node.matcher.check(content=edited, content_id="fb-9")
    again = rig.node.matcher.check(content=edited, content_id="fb-9")
    assert first.matches
    assert [m.report_id for m in again.matches] == [m.report_id for m in first.matches]
    other = rig.node.matcher.check(content=edited, content_id="fb-10")  # another upload
    assert {m.report_id for m in other.matches}.isdisjoint(m.report_id for m in first.matches)
    assert rig.node.matcher.outbox.backlog() == 2 * len(first.matches)


def test_a_dry_run_answers_and_reports_nothing(rig: Rig) -> None:
    listed_images(rig, range(1))
    answer = rig.node.matcher.check(content=edited_copy(synthetic_image(0)), report=False)
    assert answer.matches
    assert all(m.report_id == "" for m in answer.matches)
    assert "dry run: nothing reported" in answer.notes
    assert rig.node.matcher.outbox.backlog() == 0


def _report(listed: str, **changes: Any) -> Report:
    report_id = md5(listed.encode()).hexdigest()  # an id, not security
    return replace(Report(report_id, LIST, listed, 0, 1, "", int(time.time())), **changes)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"version": 2**63}, "out of range"),
        ({"version": 2**64 - 1}, "out of range"),
        ({"version": 5}, "beyond"),
        ({"matched_at": 0}, "not a plausible time"),
        ({"matched_at": 4_000_000_000}, "not a plausible time"),
        ({"signal": "md5:" + "e" * 32}, "was never on list"),
    ],
)
def test_an_implausible_report_is_refused_and_not_stored(
    rig: Rig, changes: dict[str, Any], problem: str
) -> None:
    listed = "md5:" + "d" * 32
    rig.publish([listed])
    with pytest.raises(InputError, match=problem):
        rig.node.hub_client.submit([_report(listed, **changes)], [])
    assert rig.operator.matches(LIST) == []


def test_a_retracted_hash_can_still_be_reported_and_a_verdict_needs_its_report(rig: Rig) -> None:
    listed = "md5:" + "d" * 32
    rig.publish([listed])
    rig.publish([], [listed])  # retracted: it was on the list, a late report is fine
    report = _report(listed)
    assert rig.node.hub_client.submit([report], []) == (1, 0)
    stray = Verdict("f" * 32, "0" * 32, "removed", int(time.time()))
    with pytest.raises(InputError, match="made no report"):
        rig.node.hub_client.submit([], [stray])
    verdict = Verdict("e" * 32, report.report_id, "removed", int(time.time()))
    assert rig.node.hub_client.submit([], [verdict]) == (0, 1)
    [seen] = rig.operator.matches(LIST)
    assert (seen.removed, seen.not_violating) == (1, 0)


def test_each_checkpoint_is_verified_once_per_step(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlist.checkpoint
    import hashlist.snapshot
    import node.sync

    calls: list[bytes] = []
    real = hashlist.checkpoint.verify_checkpoint

    def counting(note: bytes, *args: Any) -> Any:
        calls.append(note)
        return real(note, *args)

    for module in (node.sync, hashlist.snapshot):
        monkeypatch.setattr(module, "verify_checkpoint", counting)
    rig.operator.publish(LIST, ["md5:" + "1" * 32])  # an empty replica: bootstrap
    rig.node.sync()
    assert len(calls) == 1
    rig.operator.publish(LIST, ["md5:" + "2" * 32])  # one version behind: leaves
    rig.node.sync()
    assert len(calls) == 2
    assert calls[0] != calls[1]


@pytest.mark.parametrize("path", ["leaves", "snapshot"])
def test_no_write_lock_is_held_while_the_hub_streams(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """An upload check that files a report must never wait behind the network."""
    if path == "leaves":
        rig.publish(["md5:" + "1" * 32])  # synced at 1; version 2 comes as leaves
    rig.operator.publish(LIST, [f"md5:{i:032x}" for i in range(2, 500)])
    hub = rig.node.syncer.hub
    real = getattr(hub, path)
    probes: list[bool] = []

    def watching(*args: Any) -> Iterator[Any]:
        for item in real(*args):
            other = sqlite3.connect(rig.tmp / "node.db", timeout=0.2, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # "database is locked" if the sync holds it
            other.execute("ROLLBACK")
            other.close()
            probes.append(rig.node.store.db.in_transaction)
            yield item

    monkeypatch.setattr(hub, path, watching)
    rig.node.sync()
    assert probes
    assert not any(probes)
    assert rig.node.store.state(LIST).size == (2 if path == "leaves" else 1)
