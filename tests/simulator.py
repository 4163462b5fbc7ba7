"""A malicious hub for node tests (after python-tuf's repository_simulator).

It serves the Log service over real mTLS, backed by an honest in-memory
``ListLog``, and lies on demand: ``attack`` selects how. Every lie is signed
with the hub's real keys, so only the node's verification stands between it
and the replica.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import grpc

from hashlist.clock import FixedClock
from hashlist.delta import make_delta
from hashlist.log import ListLog
from hashlist.lthash import LtHash16
from hashlist.rpc import server_credentials, server_options
from hashlist.signals import SignalText
from hashlist.v1 import hashlist_pb2 as pb
from hashlist.v1 import hashlist_pb2_grpc as pb_grpc
from hashlist.wire import snapshot_header_to_proto
from hashlist.witness_protocol import cosigned_note
from tests.conftest import Keys

ATTACKS = ("rollback", "fork", "flip", "wrong_digest", "stale", "freeze", "oversized_leaf",
           "oversized_message", "tampered_snapshot")  # fmt: skip


class MaliciousHub(pb_grpc.LogServicer):
    def __init__(self, keys: Keys, list_id: str, clock: FixedClock, max_age: int) -> None:
        self.keys = keys
        self.list_id = list_id
        self.clock = clock
        self.max_age = max_age
        self.log = self._new_log()
        self.attack: str | None = None
        self.frozen: bytes | None = None
        self.big_leaf = b""
        self.witness_lines: list[bytes] = []  # cosignatures served with the honest note
        self.trust_roots: dict[int, bytes] = {}  # signed trust-root versions served

    def _new_log(self) -> ListLog:
        return ListLog(
            self.list_id,
            f"hub.example/lists/{self.list_id}",
            [self.keys.log],
            [self.keys.timestamp],
        )

    def publish(self, additions: list[str], removals: list[str] = ()) -> None:  # type: ignore[assignment]
        self.log.append(additions, removals)

    def freeze(self) -> None:
        self.frozen = self.log.signed_checkpoint(self.clock.now())

    def note(self) -> bytes:
        now = self.clock.now()
        if self.attack == "rollback":
            older = self._new_log()
            for leaf in self.log.leaves[:-1]:
                older.tree.append(leaf)
            return older.signed_checkpoint(now)
        if self.attack == "fork":
            # Same size as the honest log, another last leaf: a second history.
            forked = self._new_log()
            for leaf in self.log.leaves[:-1]:
                forked.tree.append(leaf)
            other = make_delta(self.list_id, self.log.size, bytes(32), ["md5:" + "f" * 32], [])
            forked.tree.append(other.encode())
            return forked.signed_checkpoint(now)
        if self.attack == "stale":
            return self.log.signed_checkpoint(now - 2 * self.max_age)
        if self.attack == "freeze" and self.frozen is not None:
            return self.frozen
        if self.attack in ("wrong_digest", "oversized_leaf"):
            tampered = self._new_log()
            for leaf in self._leaves():
                tampered.tree.append(leaf)
            return tampered.signed_checkpoint(now)
        return cosigned_note(self.log.signed_checkpoint(now), self.witness_lines)

    def _leaves(self) -> list[bytes]:
        leaves = list(self.log.leaves)
        if self.attack == "flip":
            last = bytearray(leaves[-1])
            last[len(last) // 2] ^= 0x10
            leaves[-1] = bytes(last)
        if self.attack == "wrong_digest":
            lthash = LtHash16.of(self.log.members)
            lthash.add(["md5:" + "e" * 32])  # claims a set with one hash more
            extra = make_delta(
                self.list_id, len(leaves) + 1, lthash.digest(), ["md5:" + "0" * 31 + "1"], []
            )
            leaves.append(extra.encode())
        if self.attack == "oversized_leaf":
            leaves.append(self.big_leaf)
        return leaves

    # --- the Log service ---

    def GetCheckpoint(
        self, request: pb.GetCheckpointRequest, context: grpc.ServicerContext
    ) -> pb.SignedCheckpoint:
        return pb.SignedCheckpoint(list_id=request.list_id, note=self.note())

    def GetLeaves(
        self, request: pb.GetLeavesRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.LeafBatch]:
        if self.attack == "oversized_message":
            yield pb.LeafBatch(start=request.start, leaves=[b"x" * (2 * 1024 * 1024)])
            return
        leaves = self._leaves()[request.start : request.end]
        yield pb.LeafBatch(start=request.start, leaves=leaves)

    def GetSnapshot(
        self, request: pb.SnapshotRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.SnapshotChunk]:
        header, signals = self.log.snapshot(self.clock.now(), request.from_size)
        header = dataclasses.replace(header, note=cosigned_note(header.note, self.witness_lines))
        if self.attack == "tampered_snapshot":
            signals = [SignalText("md5:" + "d" * 32), *signals[1:]]
        yield pb.SnapshotChunk(header=snapshot_header_to_proto(header))
        versions = [1] * len(signals)
        yield pb.SnapshotChunk(signals=pb.SignalBatch(signals=signals, versions=versions))

    def GetInclusionProof(
        self, request: pb.InclusionProofRequest, context: grpc.ServicerContext
    ) -> pb.Proof:
        return pb.Proof(hashes=self.log.tree.inclusion_proof(request.index, request.tree_size))

    def GetConsistencyProof(
        self, request: pb.ConsistencyProofRequest, context: grpc.ServicerContext
    ) -> pb.Proof:
        return pb.Proof(hashes=self.log.tree.consistency_proof(request.first, request.second))

    def GetTrustRoot(
        self, request: pb.GetTrustRootRequest, context: grpc.ServicerContext
    ) -> pb.SignedTrustRoot:
        if request.version not in self.trust_roots:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no trust root {request.version}")
        return pb.SignedTrustRoot(note=self.trust_roots[request.version])

    def ReportProgress(
        self, request: pb.ProgressRequest, context: grpc.ServicerContext
    ) -> pb.ProgressResponse:
        return pb.ProgressResponse()  # a malicious hub learns nothing it could misuse here

    def Subscribe(
        self, request: pb.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.SignedCheckpoint]:
        yield pb.SignedCheckpoint(list_id=self.list_id, note=self.note())
        while context.is_active():
            time.sleep(0.1)


@contextmanager
def serving(sim: MaliciousHub, pki: Path) -> Iterator[int]:
    server = grpc.server(ThreadPoolExecutor(max_workers=8), options=server_options())
    pb_grpc.add_LogServicer_to_server(sim, server)
    port = server.add_secure_port(
        "127.0.0.1:0", server_credentials(pki / "ca.pem", pki / "hub.pem", pki / "hub.key")
    )
    server.start()
    try:
        yield port
    finally:
        server.stop(0).wait()
