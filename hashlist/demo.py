"""An in-memory walk through the signed log, for ``hashlist demo``.

A publisher (the future hub) creates a list, publishes a delta of random
hashes and then a retraction; a follower (the future node) verifies each
signed checkpoint and delta with ``verify_update`` and keeps its replica as a
set. It then shows three attacks being refused: a flipped bit in a leaf, a
rolled-back checkpoint and a fork. Synthetic random hashes only.
"""

from __future__ import annotations

import os
import time

from hashlist.errors import VerificationError
from hashlist.log import ListLog
from hashlist.note import COSIGNATURE_V1, Signer
from hashlist.signals import SignalText
from hashlist.trustroot import TrustRoot
from hashlist.verify import TrustedState, verify_update

HUB = "hub.example"
LIST_ID = "takeitdown"


def run_demo(*, hashes: int) -> int:
    log_key = Signer.generate(f"{HUB}/log")
    ts_key = Signer.generate(f"{HUB}/timestamp", COSIGNATURE_V1)
    trust = TrustRoot(1, HUB, (log_key.verifier(),), ts_key.verifier())
    log = ListLog(LIST_ID, trust.origin(LIST_ID), [log_key], [ts_key])
    replica: set[SignalText] = set()
    state = TrustedState.empty(LIST_ID)

    def follow(now: int) -> TrustedState:
        note = log.signed_checkpoint(now)
        update = verify_update(
            state,
            note,
            log.leaves[state.size :],
            trust=trust,
            now=now,
            listed=replica.intersection,
        )
        for d in update.deltas:
            replica.update(d.additions)
            replica.difference_update(d.removals)
        return update.state

    now = int(time.time())
    first = [f"pdq:{os.urandom(32).hex()}" for _ in range(hashes)]
    log.publish(first)
    started = time.perf_counter()
    state = follow(now)
    took = time.perf_counter() - started
    print(f"published version 1: {hashes} hashes; follower verified it in {took * 1000:.0f} ms")
    log.publish([], removals=first[:1])
    state = follow(now + 1)
    print(f"published version 2: retracted {first[0][:20]}...; follower verified it")

    print()
    print(f"{'list':<12} {'version':>7} {'hashes':>7}  state digest")
    print(f"{LIST_ID:<12} {state.size:>7} {len(replica):>7}  {state.state_digest.hex()}")
    if state.state_digest != log.lthash.digest():
        print("follower's state digest differs from the publisher's")
        return 1

    print("\nattacks the follower refuses:")
    good_leaves = list(log.leaves)
    log.publish([f"md5:{os.urandom(16).hex()}"])
    note = log.signed_checkpoint(now + 2)
    flipped = bytearray(log.leaves[-1])
    flipped[-5] ^= 0x01
    attempts = {
        "flipped bit in a leaf": (note, [bytes(flipped)]),
        "rollback to version 1": (_old_checkpoint(good_leaves, trust, log_key, ts_key, now), []),
    }
    for name, (cp, leaves) in attempts.items():
        try:
            verify_update(
                state,
                cp,
                leaves,
                trust=trust,
                now=now + 2,
                listed=replica.intersection,
            )
        except VerificationError as e:
            print(f"  {name:<24} -> {type(e).__name__}: {e}")
        else:
            print(f"  {name:<24} -> NOT DETECTED")
            return 1
    return 0


def _old_checkpoint(
    leaves: list[bytes], trust: TrustRoot, log_key: Signer, ts_key: Signer, now: int
) -> bytes:
    old = ListLog(LIST_ID, trust.origin(LIST_ID), [log_key], [ts_key])
    old.tree.append(leaves[0])
    return old.signed_checkpoint(now + 2)
