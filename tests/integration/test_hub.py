"""The hub over real mTLS on loopback: identity, input validation, publishing rules."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest

from hashlist.audit import replay_history
from hashlist.checkpoint import verify_checkpoint
from hashlist.cli.demo import wait_until
from hashlist.clock import FixedClock, SystemClock
from hashlist.delta import MAX_ENTRY_BYTES
from hashlist.errors import (
    HashlistError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    StorageError,
    UnauthenticatedError,
    UnavailableError,
)
from hashlist.identity import Identity, Role, identity_from_pem
from hashlist.merkle import hash_leaf, verify_consistency, verify_inclusion
from hashlist.model import Report
from hashlist.snapshot import SnapshotHeader
from hashlist.trustroot import TrustRoot
from hashlist.v1 import hashlist_pb2 as pb
from hashlist.v1 import hashlist_pb2_grpc as pb_grpc
from server.access import Access
from server.serve import RunningHub
from server.store import SqliteHubStore
from tests.support import client, hub_config, hub_running, node_syncer

MD5 = [f"md5:{i:032x}" for i in range(10)]


@pytest.fixture
def hub(tmp_path: Path, pki: Path) -> Iterator[tuple[RunningHub, TrustRoot]]:
    config, trust = hub_config(tmp_path, pki)
    with hub_running(config) as running:
        op = client(running.port, pki, "operator")
        op.create_list("takeitdown")
        op.grant("takeitdown", "facebook", new_partner=True)
        op.close()
        yield running, trust


def test_publish_is_signed_and_served(hub: tuple[RunningHub, TrustRoot], pki: Path) -> None:
    running, trust = hub
    with client(running.port, pki, "operator") as op, client(running.port, pki, "facebook") as fb:
        r = op.publish("takeitdown", MD5[:5])
        assert (r.version, r.added) == (1, 5)
        r = op.publish("takeitdown", MD5[3:7], removals=[MD5[0], MD5[9]])
        assert (r.version, r.added, r.removed) == (2, 2, 1)
        assert r.already_listed == (MD5[3], MD5[4])
        assert r.not_listed == (MD5[9],)
        note = fb.checkpoint("takeitdown")
        cp = verify_checkpoint(note, trust, trust.origin("takeitdown")).checkpoint
        assert cp.size == 2
        leaves = [leaf for _, batch in fb.leaves("takeitdown", 0, 2) for leaf in batch]
        assert len(leaves) == 2
        verify_inclusion(
            hash_leaf(leaves[1]), 1, 2, fb.inclusion_proof("takeitdown", 1, 2), cp.root
        )
        first = verify_checkpoint(r.checkpoint_note, trust, trust.origin("takeitdown")).checkpoint
        assert first.root == cp.root
        assert op.status()[0].hashes == 6


def test_idempotent_publish_makes_one_version(hub: tuple[RunningHub, TrustRoot], pki: Path) -> None:
    running, _ = hub
    with client(running.port, pki, "operator") as op:
        first = op.publish("takeitdown", MD5[:3], idempotency_key="batch-1")
        again = op.publish("takeitdown", MD5[:3], idempotency_key="batch-1")
        assert (first.version, again.version, again.replayed) == (1, 1, True)
        assert op.status()[0].size == 1
        op.create_list("other")
        with pytest.raises(InputError, match="already used for list 'takeitdown'"):
            op.publish("other", MD5[:1], idempotency_key="batch-1")


def test_an_idempotency_key_reused_for_other_hashes_is_refused(
    hub: tuple[RunningHub, TrustRoot], pki: Path
) -> None:
    running, _ = hub
    with client(running.port, pki, "operator") as op:
        op.publish("takeitdown", MD5[:3], idempotency_key="batch-1")
        with pytest.raises(InputError, match="already used for another publication"):
            op.publish("takeitdown", MD5[3:5], idempotency_key="batch-1")
        # Order and spelling do not make another request: the same hashes replay.
        again = op.publish("takeitdown", [s.upper() for s in reversed(MD5[:3])],
                           idempotency_key="batch-1")  # fmt: skip
        assert again.replayed
        assert op.status()[0].size == 1  # nothing of the second payload was published


def test_concurrent_publishers_never_fork(hub: tuple[RunningHub, TrustRoot], pki: Path) -> None:
    running, trust = hub
    notes: list[bytes] = []
    lock = threading.Lock()

    def publisher(offset: int) -> None:
        with client(running.port, pki, "operator") as op:
            for i in range(5):
                r = op.publish("takeitdown", [f"sha256:{offset * 100 + i:064x}"])
                with lock:
                    notes.append(r.checkpoint_note)

    threads = [threading.Thread(target=publisher, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    checkpoints = [
        verify_checkpoint(n, trust, trust.origin("takeitdown")).checkpoint for n in notes
    ]
    assert sorted(c.size for c in checkpoints) == list(range(1, 21))
    final = max(checkpoints, key=lambda c: c.size)
    with client(running.port, pki, "facebook") as fb:
        for c in checkpoints:
            if c.size < final.size:
                proof = fb.consistency_proof("takeitdown", c.size, final.size)
                verify_consistency(c.size, final.size, proof, c.root, final.root)


BAD_PUBLICATIONS = [
    (["md5:xyz"], [], "takeitdown", "not hexadecimal"),
    (["md5:" + "a" * 30], [], "takeitdown", "a md5 hash is 32 hex digits"),
    (["crc:" + "a" * 8], [], "takeitdown", "unknown signal kind 'crc'"),
    ([], [], "takeitdown", "empty delta"),
    ([MD5[0]], [MD5[0]], "takeitdown", "both added and removed"),
    ([MD5[0]], [], "nosuchlist", "unknown list 'nosuchlist'"),
]


@pytest.mark.parametrize("case", range(len(BAD_PUBLICATIONS)))
def test_bad_publish_input_is_invalid_argument_and_publishes_nothing(
    hub: tuple[RunningHub, TrustRoot], pki: Path, case: int
) -> None:
    additions, removals, list_id, message = BAD_PUBLICATIONS[case]
    running, _ = hub
    channel = _channel(running.port, pki, "operator")
    admin = pb_grpc.AdminStub(channel)
    request = pb.PublishRequest(list_id=list_id, additions=additions, removals=removals)
    with pytest.raises(grpc.RpcError) as info:
        admin.Publish(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (info.value.details() or "")
    assert "Traceback" not in (info.value.details() or "")
    assert admin.Status(pb.StatusRequest(), timeout=10).lists[0].size == 0
    channel.close()


def test_a_publication_over_one_delta_becomes_versions_committed_together(
    tmp_path: Path, pki: Path
) -> None:
    config, trust = hub_config(tmp_path, pki, max_delta_bytes=2048, max_publish_hashes=1000)
    signals = [f"md5:{i:032x}" for i in range(100)]
    with hub_running(config) as running, client(running.port, pki, "operator") as op:
        op.create_list("l")
        r = op.publish("l", signals)
        assert (r.first_version, r.added) == (1, 100)
        assert r.version > 1  # 100 hashes do not fit in one 2,048-byte delta
        leaves = [leaf for _, batch in op.leaves("l", 0, r.version) for leaf in batch]
        assert all(len(leaf) <= 2048 for leaf in leaves)
        replayed = replay_history("l", op.checkpoint("l"), leaves, trust=trust,
                                  now=int(time.time()))  # fmt: skip
        assert (replayed.size, replayed.hashes) == (r.version, 100)
        with pytest.raises(InputError, match="at most 1,000 hashes"):
            op.publish("l", [f"md5:{i:032x}" for i in range(1000, 2001)])
        assert op.status()[0].size == r.version  # nothing of the refused one


def test_a_large_publication_becomes_v2_leaves_a_node_applies(
    hub: tuple[RunningHub, TrustRoot], pki: Path, tmp_path: Path
) -> None:
    running, trust = hub
    signals = [f"sha256:{i:064x}" for i in range(3000)]  # about 228 KB of lines
    with (
        client(running.port, pki, "operator") as op,
        node_syncer(tmp_path / "node", pki, running.port, trust, SystemClock()) as (syncer, store),
    ):
        op.publish("takeitdown", MD5[:1])
        assert syncer.sync("takeitdown")  # bootstrapped at version 1
        r = op.publish("takeitdown", signals)
        assert (r.first_version, r.added) == (2, 3000)
        assert r.version >= 5  # the result names the last of its versions
        leaves = [leaf for _, batch in op.leaves("takeitdown", 1, r.version) for leaf in batch]
        assert len(leaves) == r.version - 1
        assert all(len(leaf) <= MAX_ENTRY_BYTES for leaf in leaves)
        assert all(leaf.startswith(b"hashlist-delta/v2\n") for leaf in leaves)
        assert syncer.sync("takeitdown")  # every leaf verified, in one step
        state = store.state("takeitdown")
        assert (state.size, state.state_digest) == (r.version, op.status()[0].state_digest)
        assert store.count("takeitdown") == 3001


def test_identity_rules(hub: tuple[RunningHub, TrustRoot], pki: Path, tmp_path: Path) -> None:
    running, _ = hub
    port = running.port
    with client(port, pki, "facebook") as fb:
        fb.checkpoint("takeitdown")
        with pytest.raises(PermissionDeniedError, match="not the operator"):
            fb.publish("takeitdown", MD5[:1])
    with client(port, pki, "instagram") as ig:
        with pytest.raises(PermissionDeniedError, match="may not read list 'takeitdown'"):
            ig.checkpoint("takeitdown")
        with pytest.raises(PermissionDeniedError):
            list(ig.subscribe(["takeitdown"]))
    with client(port, pki, "auditor") as auditor:
        auditor.checkpoint("takeitdown")
        with pytest.raises(NotFoundError):
            auditor.checkpoint("nosuchlist")
        with pytest.raises(PermissionDeniedError):
            auditor.create_list("mine")
    # The intake service's role opens cases (its own calls); nothing of the log or admin.
    with client(port, pki, "intake") as intake:
        with pytest.raises(PermissionDeniedError):
            intake.checkpoint("takeitdown")
        with pytest.raises(PermissionDeniedError):
            intake.publish("takeitdown", MD5[:1])
        with pytest.raises(PermissionDeniedError):
            intake.submit([], [])
    # A certificate from another CA, or none at all: the TLS handshake refuses it.
    with client(port, pki, "stranger") as stranger, pytest.raises(UnavailableError):
        stranger.checkpoint("takeitdown")
    insecure = grpc.secure_channel(
        f"127.0.0.1:{port}",
        grpc.ssl_channel_credentials(root_certificates=(pki / "ca.pem").read_bytes()),
    )
    with pytest.raises(grpc.RpcError) as info:
        pb_grpc.LogStub(insecure).GetCheckpoint(
            pb.GetCheckpointRequest(list_id="takeitdown"), timeout=5
        )
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    insecure.close()


def test_certificate_without_a_hashlist_role_is_unauthenticated(
    hub: tuple[RunningHub, TrustRoot], pki: Path
) -> None:
    running, _ = hub
    with client(running.port, pki, "wizard") as wizard:
        with pytest.raises(UnauthenticatedError, match="unknown role 'wizard'"):
            wizard.checkpoint("takeitdown")
        with pytest.raises(UnauthenticatedError):
            wizard.create_list("x")


def _channel(port: int, pki: Path, who: str) -> grpc.Channel:
    creds = grpc.ssl_channel_credentials(
        (pki / "ca.pem").read_bytes(),
        (pki / f"{who}.key").read_bytes(),
        (pki / f"{who}.pem").read_bytes(),
    )
    return grpc.secure_channel(f"127.0.0.1:{port}", creds)


def test_internals_never_cross_the_wire(
    hub: tuple[RunningHub, TrustRoot],
    pki: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A storage failure reaches the operator as a fixed message and a reference;
    the detail (here a file path) is only in the hub's log, under that reference."""
    running, _ = hub
    secret = "/var/lib/hashlist/hub.db: disk I/O error"

    def failing(*_: object) -> None:
        raise StorageError(f"cannot write {secret}")

    def crashing(*_: object) -> None:
        raise RuntimeError(f"unexpected state in {secret}")

    with client(running.port, pki, "operator") as op:
        monkeypatch.setattr(running.hub.store, "commit_publication", failing)
        with pytest.raises(HashlistError) as stored:
            op.publish("takeitdown", MD5[:1])
        monkeypatch.setattr(running.hub.reader, "status", crashing)
        with pytest.raises(HashlistError) as crashed:
            op.status()
        with pytest.raises(InputError) as bad:  # the request's own problem is spelled out
            op.publish("takeitdown", ["md5:zz"])
    for error in (stored.value, crashed.value):
        assert secret not in str(error)
        assert "operator has the details (reference " in str(error)
        reference = str(error).rsplit("reference ", 1)[1].rstrip(")")
        assert reference in caplog.text  # the operator finds the detail by its reference
    assert secret in caplog.text
    assert "invalid argument: " in str(bad.value)
    assert "md5:zz" in str(bad.value)


@pytest.mark.parametrize(
    "trivial",
    [
        "md5:d41d8cd98f00b204e9800998ecf8427e",  # what `hashlist hash` gives an empty file
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "pdq:" + "0" * 64,
        "phash:8000000000000000",  # a blank image's pHash
    ],
)
def test_hashes_of_trivially_common_content_are_not_listed(
    hub: tuple[RunningHub, TrustRoot], pki: Path, trivial: str
) -> None:
    running, _ = hub
    with client(running.port, pki, "operator") as op:
        with pytest.raises(InputError, match="trivially common content"):
            op.publish("takeitdown", [MD5[0], trivial])
        assert op.status()[0].size == 0  # nothing of that publication


def test_one_partner_flooding_reports_is_slowed_down(tmp_path: Path, pki: Path) -> None:
    config, _ = hub_config(tmp_path, pki, max_reports_per_second=5.0, report_burst=20)
    with hub_running(config) as running, client(running.port, pki, "operator") as op:
        op.create_list("takeitdown")
        op.grant("takeitdown", "facebook", new_partner=True)
        op.publish("takeitdown", MD5[:1])
        now = int(time.time())
        reports = [Report(f"{i:032x}", "takeitdown", MD5[0], 0, 1, "", now) for i in range(25)]
        with client(running.port, pki, "facebook") as fb:
            assert fb.submit(reports[:20], []) == (20, 0)
            with pytest.raises(ResourceExhaustedError, match="faster than 5/s"):
                fb.submit(reports[20:], [])
        assert sum(n for h in op.matches("takeitdown") for _, n in h.partners) == 20


def test_an_unread_snapshot_holds_back_no_wal_checkpoint(tmp_path: Path, pki: Path) -> None:
    """A client that stops reading a snapshot keeps no read transaction open: the WAL
    checkpoints and shrinks under it, and what it reads later is still one version."""
    config, _ = hub_config(tmp_path, pki, snapshot_batch=50)
    listed = [f"md5:{i:032x}" for i in range(1, 40_001)]
    with hub_running(config) as running, client(running.port, pki, "operator") as op:
        op.create_list("takeitdown")
        op.grant("takeitdown", "facebook", new_partner=True)
        op.publish("takeitdown", listed)
        with client(running.port, pki, "facebook") as fb:
            chunks = fb.snapshot("takeitdown", 0)
            header = next(chunks)
            assert isinstance(header, SnapshotHeader)
            first = next(chunks)
            assert not isinstance(first, SnapshotHeader)
            # The client reads nothing more while the list moves on, removals included.
            op.publish("takeitdown", [f"md5:{i:032x}" for i in range(50_000, 50_100)],
                       listed[-500:])  # fmt: skip
            with sqlite3.connect(config.database) as db:
                busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert busy == 0
            assert Path(f"{config.database}-wal").stat().st_size == 0
            seen = list(first[0])
            for chunk in chunks:
                assert not isinstance(chunk, SnapshotHeader)
                seen.extend(chunk[0])
        assert seen == listed  # the pinned version: no later addition, no removal missing
        assert header.count == len(listed)


def _closed_by_hub(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _flood(stack: ExitStack, port: int, n: int) -> list[socket.socket]:
    """``n`` TCP connections that never start TLS."""
    flood = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    for s in flood:
        stack.callback(s.close)
    return flood


def test_connections_that_never_complete_tls_are_closed_after_the_timeout(
    tmp_path: Path, pki: Path
) -> None:
    config, _ = hub_config(tmp_path, pki, handshake_timeout_seconds=1.0)
    with hub_running(config) as running, ExitStack() as stack:
        op = stack.enter_context(client(running.port, pki, "operator"))
        op.create_list("takeitdown")
        flood = _flood(stack, running.port, 200)
        started = time.monotonic()
        for s in flood:
            s.settimeout(5)
        assert all(_closed_by_hub(s) for s in flood)
        assert time.monotonic() - started < 4  # gRPC's own default waits 120 s


def test_connections_past_the_cap_are_closed_at_once_and_known_clients_served(
    tmp_path: Path, pki: Path
) -> None:
    config, _ = hub_config(tmp_path, pki, max_connections=32, handshake_timeout_seconds=30.0)
    with hub_running(config) as running, ExitStack() as stack:
        op = stack.enter_context(client(running.port, pki, "operator"))
        op.create_list("takeitdown")
        op.grant("takeitdown", "facebook", new_partner=True)
        fb = stack.enter_context(client(running.port, pki, "facebook"))
        assert fb.checkpoint("takeitdown")  # two connections open before the flood
        flood = _flood(stack, running.port, 200)
        time.sleep(0.5)
        for s in flood:
            s.settimeout(0.05)
        closed = [s for s in flood if _closed_by_hub(s)]
        assert len(closed) >= 200 - 30  # all but the 30 the cap had room for
        started = time.monotonic()
        op.publish("takeitdown", MD5[:1])  # known clients are served meanwhile
        assert fb.checkpoint("takeitdown")
        assert time.monotonic() - started < 3
        for s in flood:
            s.close()  # the flood ends: there is room again for a new client ...
        late = stack.enter_context(client(running.port, pki, "yubo"))

        def refused_by_role() -> bool:
            try:
                late.checkpoint("takeitdown")
            except PermissionDeniedError:
                return True  # connected, and refused by role
            except UnavailableError:
                return False  # ... once the hub has noticed the closed sockets
            return False

        wait_until(refused_by_role, 10, "room for a new client", interval=0.2)


def test_matches_come_in_pages_however_many_hashes_were_reported(tmp_path: Path, pki: Path) -> None:
    config, _ = hub_config(tmp_path, pki, max_reports_per_second=1e6, report_burst=100_000)
    listed = [f"md5:{i:032x}" for i in range(1, 2_501)]
    with hub_running(config) as running, client(running.port, pki, "operator") as op:
        op.create_list("takeitdown")
        op.grant("takeitdown", "facebook", new_partner=True)
        op.publish("takeitdown", listed)
        now = int(time.time())
        with client(running.port, pki, "facebook") as fb:
            for start in range(0, len(listed), 1250):
                fb.submit([Report(f"{i:032x}", "takeitdown", listed[i], 0, 1, "", now)
                           for i in range(start, start + 1250)], [])  # fmt: skip
        channel = _channel(running.port, pki, "operator")
        admin = pb_grpc.AdminStub(channel)
        first = admin.Matches(pb.MatchesRequest(list_id="takeitdown"), timeout=10)
        assert len(first.hashes) == 1000  # the hub's default page
        assert first.next_page_token == listed[999]

        def page(size: int, token: str = "") -> tuple[int, str]:
            request = pb.MatchesRequest(list_id="takeitdown", page_size=size, page_token=token)
            answer = admin.Matches(request, timeout=10)
            return len(answer.hashes), answer.next_page_token

        assert page(10) == (10, listed[9])
        assert page(10, listed[9]) == (10, listed[19])
        assert page(100_000) == (2500, "")  # capped at 5,000: all of them, and the last page
        assert page(2500) == (2500, listed[-1])  # a full page may be the last ...
        assert page(2500, listed[-1]) == (0, "")  # ... and the next one says so
        with pytest.raises(grpc.RpcError) as e:
            admin.Matches(pb.MatchesRequest(list_id="takeitdown", page_token="x"), timeout=10)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        channel.close()
        found = op.matches("takeitdown")  # every page
        assert [h.signal for h in found] == listed
        assert all(h.partners == (("facebook", 1),) for h in found)


def test_reports_and_verdicts_are_deleted_after_the_retention(tmp_path: Path, pki: Path) -> None:
    clock = FixedClock(int(time.time()))
    config, _ = hub_config(tmp_path, pki, report_retention_days=30)
    with hub_running(config, clock) as running, client(running.port, pki, "operator") as op:
        op.create_list("takeitdown")
        op.grant("takeitdown", "facebook", new_partner=True)
        op.publish("takeitdown", MD5[:2])
        with client(running.port, pki, "facebook") as fb:
            fb.submit([Report(f"{1:032x}", "takeitdown", MD5[0], 0, 1, "", clock.value)], [])
            clock.value += 20 * 86_400
            fb.submit([Report(f"{2:032x}", "takeitdown", MD5[1], 0, 1, "", clock.value)], [])
    clock.value += 15 * 86_400  # the first report is 35 days old, the second 15
    with hub_running(config, clock) as running, client(running.port, pki, "operator") as op:
        wait_until(lambda: len(op.matches("takeitdown")) == 1, 10, "the purge at start")
        assert [h.signal for h in op.matches("takeitdown")] == [MD5[1]]


@pytest.mark.parametrize("huge", ["x" * 100_000, "\u20ac" * 100_000])
def test_a_huge_input_is_refused_as_invalid_with_a_bounded_message(
    hub: tuple[RunningHub, TrustRoot], pki: Path, huge: str
) -> None:
    running, _ = hub
    channel = _channel(running.port, pki, "operator")
    admin = pb_grpc.AdminStub(channel)
    with pytest.raises(grpc.RpcError) as e:
        admin.CreateList(pb.CreateListRequest(list_id=huge), timeout=10)
    with pytest.raises(grpc.RpcError) as published:
        admin.Publish(pb.PublishRequest(list_id=huge, additions=[MD5[0]]), timeout=10)
    channel.close()
    for refused in (e.value, published.value):
        # Not RESOURCE_EXHAUSTED: the refusal itself fits in gRPC's limits.
        assert refused.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
        details = refused.details() or ""
        assert "(100,000 characters)" in details
        assert len(details) < 3_000


def test_the_hub_starts_and_serves_a_usable_note_when_the_stored_one_is_not(
    tmp_path: Path, pki: Path
) -> None:
    """A stored note over the limits nodes enforce (a 64 KiB witness line, say) is
    signed again from the log-signed checkpoint at start, never served nor fatal."""
    config, trust = hub_config(tmp_path, pki)
    with hub_running(config) as running, client(running.port, pki, "operator") as op:
        op.create_list("takeitdown")
        op.publish("takeitdown", MD5[:2])
    with sqlite3.connect(config.database) as db:
        (note,) = db.execute("SELECT latest_note FROM lists").fetchone()
        bloated = bytes(note) + "\u2014 witness1.example ".encode() + b"A" * 65_536 + b"\n"
        db.execute("UPDATE lists SET latest_note=?", (bloated,))
    with hub_running(config) as running, client(running.port, pki, "facebook") as fb:
        with client(running.port, pki, "operator") as op:
            op.grant("takeitdown", "facebook", new_partner=True)
        served = fb.checkpoint("takeitdown")
    assert len(served) < 4096
    assert verify_checkpoint(served, trust, trust.origin("takeitdown")).checkpoint.size == 1


def test_a_revoked_certificate_is_refused_its_stream_ends_and_it_stays_revoked(
    tmp_path: Path, pki: Path
) -> None:
    serial = identity_from_pem((pki / "facebook.pem").read_bytes()).serial
    config, _ = hub_config(tmp_path, pki)
    with hub_running(config) as running, client(running.port, pki, "operator") as op:
        op.create_list("takeitdown")
        op.grant("takeitdown", "facebook", new_partner=True)
        with client(running.port, pki, "facebook") as fb:
            stream = iter(fb.subscribe(["takeitdown"]))
            next(stream)  # subscribed
            assert op.revoke_certificate(serial.upper()) is True  # any case, as printed
            assert op.revoke_certificate(serial) is False
            ended: list[BaseException] = []

            def drain() -> None:
                try:
                    for _ in stream:
                        pass
                except UnauthenticatedError as e:
                    ended.append(e)

            reader = threading.Thread(target=drain, daemon=True)
            reader.start()
            op.publish("takeitdown", MD5[:1])  # nothing is sent past the revocation
            reader.join(timeout=5)
            assert not reader.is_alive(), "the revoked certificate's stream did not end"
            assert "was revoked" in str(ended[0])
            with pytest.raises(UnauthenticatedError, match="was revoked"):
                fb.checkpoint("takeitdown")
        with pytest.raises(InputError, match="not a certificate serial"):
            op.revoke_certificate("xyz")
    with hub_running(config) as running, client(running.port, pki, "facebook") as fb:
        with pytest.raises(UnauthenticatedError, match="was revoked"):  # kept across a restart
            fb.checkpoint("takeitdown")
        with client(running.port, pki, "instagram") as ig, pytest.raises(PermissionDeniedError):
            ig.checkpoint("takeitdown")  # others are not affected


def test_a_grant_to_a_name_the_hub_never_saw_needs_new_partner(
    hub: tuple[RunningHub, TrustRoot], pki: Path
) -> None:
    running, _ = hub  # "facebook" is granted already
    with client(running.port, pki, "operator") as op:
        op.create_list("stopncii")
        with pytest.raises(InputError, match="'facebok' is unknown to this hub"):
            op.grant("stopncii", "facebok")  # a typo
        assert op.grant("stopncii", "facebook")  # granted before: known
        with pytest.raises(InputError, match="unknown"):
            op.grant("stopncii", "yubo")
        with client(running.port, pki, "yubo") as yubo, pytest.raises(PermissionDeniedError):
            yubo.checkpoint("stopncii")  # yubo calls: now the hub has seen its certificate
        assert op.grant("stopncii", "yubo")
        assert op.grant("stopncii", "newcomer", new_partner=True)


def test_progress_is_taken_only_from_a_granted_partner_within_the_list(
    hub: tuple[RunningHub, TrustRoot], pki: Path
) -> None:
    running, _ = hub
    with client(running.port, pki, "operator") as op:
        op.publish("takeitdown", MD5[:2])
        op.create_list("stopncii")
        with client(running.port, pki, "facebook") as fb:
            fb.report_progress("takeitdown", 1)
            with pytest.raises(InputError, match="beyond"):
                fb.report_progress("takeitdown", 2)
            with pytest.raises(PermissionDeniedError):
                fb.report_progress("stopncii", 0)  # not granted
        with pytest.raises(PermissionDeniedError, match="not a partner"):
            op.report_progress("takeitdown", 1)
        [facebook] = [p for p in op.partners() if p.name == "facebook"]
        assert [(x.list_id, x.version, x.lag) for x in facebook.lists] == [("takeitdown", 1, 0)]
        assert facebook.certificates[0].serial == identity_from_pem(
            (pki / "facebook.pem").read_bytes()).serial  # fmt: skip


def test_a_call_never_fails_for_want_of_recording_its_certificate(tmp_path: Path) -> None:
    class FullDisk(SqliteHubStore):
        def saw_certificate(self, who: Identity, at: int) -> None:
            raise StorageError("database or disk is full")

    store = FullDisk(tmp_path / "hub.db")
    try:
        access = Access(store, FixedClock(1_800_000_000))
        who = Identity(Role.PARTNER, "acme", "3da1873c", 1_900_000_000)
        assert access.authenticate(who) == who
        access.flush_sightings()  # logged, kept for the next flush
        assert access.authenticate(who) == who
    finally:
        store.close()
