"""Simulated subscribers for ``bench.bench_fanout``: many Subscribe streams from one process.

    python -m bench.fanout_clients --hub HOST:PORT --pki DIR --trust trust.toml \\
        --list takeitdown --identities sim00,sim01 --count 1250 [--first 0] \
        [--retry-refused 1.0]

Each subscriber has a channel of its own (its own TCP connection and mTLS
handshake, as a node has), all on one grpc.aio event loop. Every note received
counts once its signature by the log's key (from the trust root) verifies and it
names the list's origin. Stream
``--first + i`` presents identity number ``--first + i`` modulo their number, so
processes given consecutive ranges spread the streams evenly. A stream the hub
refuses is retried every ``--retry-refused`` seconds (0: not at all), as a
misbehaving client would.

It talks to its parent on stdout, one JSON object per line:

* ``{"ready": OPEN, "refused": N, "message": "...", "failed": N}`` once every
  stream has its current note or an answer;
* ``{"version": V, "at": [unix seconds, ...]}`` once every open stream has
  verified version V (one time per stream);

and ends when its stdin closes. Not a test and not a tool: a benchmark's load.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import grpc

from hashlist.checkpoint import Checkpoint
from hashlist.note import open_note
from hashlist.rpc import channel_options
from hashlist.trustroot import load_trust_root
from hashlist.v1 import hashlist_pb2 as pb
from hashlist.v1 import hashlist_pb2_grpc as pb_grpc


class Subscribers:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        trust = load_trust_root(args.trust)
        self.log_keys = list(trust.log_keys)
        self.origin = trust.origin(args.list)
        ca = (args.pki / "ca.pem").read_bytes()
        self.credentials = [
            grpc.ssl_channel_credentials(
                ca, (args.pki / f"{who}.key").read_bytes(), (args.pki / f"{who}.pem").read_bytes()
            )
            for who in args.identities.split(",")
        ]
        # A channel of its own per subscriber: no connection shared between them.
        self.options = [*channel_options(), ("grpc.use_local_subchannel_pool", 1)]
        self.answered = 0  # streams with their first note or a first refusal
        self.open = 0
        self.refused: list[str] = []
        self.failed: list[str] = []
        self.times: dict[int, list[float]] = defaultdict(list)
        self.all_answered = asyncio.Event()
        self.connecting = asyncio.Semaphore(args.connect_at_once)

    def _answered(self) -> None:
        self.answered += 1
        if self.answered == self.args.count:
            self.all_answered.set()

    async def subscriber(self, number: int) -> None:
        credentials = self.credentials[(self.args.first + number) % len(self.credentials)]
        request = pb.SubscribeRequest(list_ids=[self.args.list])
        first = True
        async with grpc.aio.secure_channel(self.args.hub, credentials, self.options) as channel:
            stub = pb_grpc.LogStub(channel)
            await self.connecting.acquire()
            while True:
                seen: set[int] = set()
                try:
                    async for message in stub.Subscribe(request):
                        size = self._verified_size(message.note)
                        if not seen:  # the current note: the stream is open
                            self.open += 1
                            if first:
                                first = False
                                self.connecting.release()
                                self._answered()
                        elif size not in seen:  # not a re-cosigned note of a version it has
                            self._received(size)
                        seen.add(size)
                    return
                except grpc.aio.AioRpcError as e:
                    if seen:
                        self.open -= 1
                    if first:
                        first = False
                        self.connecting.release()
                        self._answered()
                        if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                            self.refused.append(e.details() or "")
                        else:
                            self.failed.append(f"{e.code().name}: {e.details()}")
                    refused = e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                    if not refused or not self.args.retry_refused:
                        return
                    await asyncio.sleep(self.args.retry_refused)

    def _verified_size(self, note: bytes) -> int:
        opened, _ = open_note(note, self.log_keys)  # raises unless a log key's signature verifies
        checkpoint = Checkpoint.parse(opened.text)
        if checkpoint.origin != self.origin:
            raise ValueError(f"a checkpoint of {checkpoint.origin}, not {self.origin}")
        return checkpoint.size

    def _received(self, size: int) -> None:
        at = self.times[size]
        at.append(time.time())
        if len(at) == self.open and self.all_answered.is_set():
            _say({"version": size, "at": at})

    async def run(self, stop: asyncio.Event) -> None:
        streams = [asyncio.create_task(self.subscriber(i)) for i in range(self.args.count)]
        await self.all_answered.wait()
        _say({"ready": self.open, "refused": len(self.refused),
              "message": self.refused[0] if self.refused else "", "failed": len(self.failed),
              "failure": self.failed[0] if self.failed else ""})  # fmt: skip
        await stop.wait()
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)


def _say(what: dict[str, object]) -> None:
    print(json.dumps(what), flush=True)


async def _main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def wait_for_eof() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_eof, daemon=True).start()
    await Subscribers(args).run(stop)


def main() -> None:
    gc.set_threshold(100_000)  # as the hub (server.serve): a load generator kept lean
    parser = argparse.ArgumentParser()
    parser.add_argument("--hub", required=True)
    parser.add_argument("--pki", type=Path, required=True)
    parser.add_argument("--trust", type=Path, required=True)
    parser.add_argument("--list", required=True)
    parser.add_argument("--identities", required=True, help="comma-separated certificate names")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--first", type=int, default=0, help="number of the first stream")
    parser.add_argument("--connect-at-once", type=int, default=64)
    parser.add_argument("--retry-refused", type=float, default=0.0)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
