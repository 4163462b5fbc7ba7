"""The hub's streams over real mTLS: subscriptions hold no worker thread, so the hub
serves many more of them than it has threads, and the caps (per identity, per kind of
stream) keep one partner from taking what the others need."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from hashlist.checkpoint import verify_checkpoint
from hashlist.cli.demo import wait_until
from hashlist.client import HubClient
from hashlist.errors import InputError, ResourceExhaustedError
from hashlist.trustroot import TrustRoot
from hashlist.v1 import hashlist_pb2 as pb
from tests.support import client, hub_config, hub_running

LIST = "takeitdown"
MD5 = [f"md5:{i:032x}" for i in range(200)]
PARTNERS = ("facebook", "instagram", "yubo")


def _open(stack: ExitStack, hub: HubClient) -> Iterator[tuple[str, bytes]]:
    """A subscription that has received the current note: it is open and holds its slot."""
    sub = hub.subscribe([LIST])
    stack.callback(sub.cancel)
    stream = iter(sub)
    next(stream)
    return stream


def _size(note: bytes, trust: TrustRoot) -> int:
    return verify_checkpoint(note, trust, trust.origin(LIST)).checkpoint.size


def test_the_hub_serves_more_subscriptions_than_worker_threads(tmp_path: Path, pki: Path) -> None:
    """53 subscriptions on a hub of 8 worker threads: every one is told of a publication,
    unary calls and downloads are still answered, and one identity over its cap is
    refused with a message saying why while the others are served."""
    config, trust = hub_config(tmp_path, pki, max_workers=8, unary_reserve=4,
                               max_streams_per_identity=14)  # fmt: skip
    with hub_running(config) as running, ExitStack() as stack:
        op = stack.enter_context(client(running.port, pki, "operator"))
        op.create_list(LIST)
        for partner in PARTNERS:
            op.grant(LIST, partner, new_partner=True)
        readers = {who: stack.enter_context(client(running.port, pki, who))
                   for who in (*PARTNERS, "auditor")}  # fmt: skip
        streams = [_open(stack, hub) for hub in readers.values() for _ in range(13)]
        streams.append(_open(stack, readers["facebook"]))
        with pytest.raises(ResourceExhaustedError, match="facebook already holds 14 open streams"):
            _open(stack, readers["facebook"])
        assert len(streams) == 53 > config.max_workers

        started = time.monotonic()
        assert op.publish(LIST, MD5[:3]).version == 1
        assert op.status()[0].size == 1  # unary calls find a thread ...
        assert [b for _, b in readers["yubo"].leaves(LIST, 0, 1)]  # ... and so do downloads
        assert time.monotonic() - started < 5
        for stream in streams:
            list_id, note = next(stream)
            assert (list_id, _size(note, trust)) == (LIST, 1)
        assert op.publish(LIST, MD5[3:4]).version == 2
        assert all(_size(next(stream)[1], trust) == 2 for stream in streams)


def test_streams_are_capped_per_identity_and_in_all(tmp_path: Path, pki: Path) -> None:
    config, _ = hub_config(tmp_path, pki, max_workers=8, unary_reserve=4,
                           max_streams_per_identity=2, max_subscriptions=4)  # fmt: skip
    with hub_running(config) as running, ExitStack() as stack:
        op = stack.enter_context(client(running.port, pki, "operator"))
        op.create_list(LIST)
        for partner in PARTNERS:
            op.grant(LIST, partner, new_partner=True)
        clients = {p: stack.enter_context(client(running.port, pki, p)) for p in PARTNERS}
        _open(stack, clients["facebook"])
        _open(stack, clients["facebook"])
        with pytest.raises(ResourceExhaustedError, match="already holds 2 open streams"):
            _open(stack, clients["facebook"])
        _open(stack, clients["instagram"])
        _open(stack, clients["instagram"])  # all 4 subscriptions are in use
        with pytest.raises(ResourceExhaustedError, match="4 subscription streams at once"):
            _open(stack, clients["yubo"])
        started = time.monotonic()
        assert op.status()[0].list_id == LIST  # the operator is still served ...
        op.publish(LIST, MD5[:1])
        assert clients["yubo"].checkpoint(LIST)  # ... and other partners' reads
        assert [b for _, b in clients["yubo"].leaves(LIST, 0, 1)]  # ... and downloads
        assert time.monotonic() - started < 5
        with pytest.raises(InputError, match="at least one list"):
            next(iter(clients["yubo"].subscribe([])))


def test_streams_whose_client_went_away_give_back_their_slots(tmp_path: Path, pki: Path) -> None:
    """Downloads and subscriptions cancelled midway, more of them than the caps allow at
    once: each gave its slot back, so the next ones are served."""
    config, _ = hub_config(tmp_path, pki, max_workers=6, unary_reserve=4, snapshot_batch=5,
                           max_streams_per_identity=2)  # fmt: skip
    with hub_running(config) as running, ExitStack() as stack:
        op = stack.enter_context(client(running.port, pki, "operator"))
        op.create_list(LIST)
        op.grant(LIST, "facebook", new_partner=True)
        op.publish(LIST, MD5)
        fb = stack.enter_context(client(running.port, pki, "facebook"))
        for _ in range(5):  # two downloads at once at most (6 workers - 4 reserved)
            call = fb.log.GetSnapshot(pb.SnapshotRequest(list_id=LIST), timeout=10)
            next(call)  # the header: the download holds its slot; 40 batches are left
            call.cancel()

            def served() -> bool:
                try:
                    return sum(1 for _ in fb.snapshot(LIST, 0)) == 1 + len(MD5) // 5
                except ResourceExhaustedError:
                    return False

            wait_until(served, 5, "a download after a cancelled one")
        for _ in range(5):
            with ExitStack() as subscriptions:
                _open(subscriptions, fb)
                _open(subscriptions, fb)
            wait_until(lambda: _can_subscribe(fb), 5, "a subscription after cancelled ones")


def test_a_download_stopped_midway_gives_back_its_slot_at_once(tmp_path: Path, pki: Path) -> None:
    """A client that stops reading a snapshot midway and goes away: its slot is given
    back at once, not whenever the garbage collector runs (it is off here)."""
    config, _ = hub_config(tmp_path, pki, max_workers=6, unary_reserve=4,
                           max_streams_per_identity=2)  # fmt: skip
    with hub_running(config) as running, ExitStack() as stack:
        op = stack.enter_context(client(running.port, pki, "operator"))
        op.create_list(LIST)
        op.grant(LIST, "facebook", new_partner=True)
        op.publish(LIST, [f"md5:{i:032x}" for i in range(100_000)])  # 5 batches
        fb = stack.enter_context(client(running.port, pki, "facebook"))
        gc.disable()  # what is left to the collector stays left
        try:
            for _ in range(3):  # more than the two downloads allowed at once
                call = fb.log.GetSnapshot(pb.SnapshotRequest(list_id=LIST), timeout=30)
                next(call)  # the header
                time.sleep(0.3)
                call.cancel()
            wait_until(lambda: _can_download(fb), 5, "a download after cancelled ones")
        finally:
            gc.enable()


def _can_download(hub: HubClient) -> bool:
    try:
        return bool(next(iter(hub.leaves(LIST, 0, 1))))
    except ResourceExhaustedError:
        return False


def _can_subscribe(hub: HubClient) -> bool:
    with ExitStack() as stack:
        try:
            _open(stack, hub)
            _open(stack, hub)
        except ResourceExhaustedError:
            return False
    return True


def test_stopping_the_hub_ends_open_subscriptions_at_once(tmp_path: Path, pki: Path) -> None:
    config, _ = hub_config(tmp_path, pki, grace_seconds=5.0)
    with ExitStack() as clients:
        with hub_running(config) as running:
            op = clients.enter_context(client(running.port, pki, "operator"))
            op.create_list(LIST)
            op.grant(LIST, "facebook", new_partner=True)
            fb = clients.enter_context(client(running.port, pki, "facebook"))
            streams = [_open(clients, fb) for _ in range(8)]
            started = time.monotonic()
        assert time.monotonic() - started < 2  # well within grace_seconds: nothing waited
        for stream in streams:
            assert list(stream) == []  # each ended, as a stream ends: the node reconnects
