"""Synthetic vPDQ frame lists for tests of listing and matching (no video decoding).

A "video" is scenes of similar frames: each scene a random 256-bit PDQ code,
each frame of it that code with a few bits flipped, as consecutive frames of
one shot hash. A "re-encode" flips a few more bits of every frame, staying
well within the 31-bit frame distance of the original.
"""

from __future__ import annotations

import random

from hashlist.vpdq import VpdqFrame


def flipped(code: str, bits: int, rng: random.Random) -> str:
    value = int(code, 16)
    for b in rng.sample(range(256), bits):
        value ^= 1 << b
    return f"{value:064x}"


def video(seed: int, scenes: int = 6, per_scene: int = 10, quality: int = 90) -> list[VpdqFrame]:
    rng = random.Random(seed)
    frames = []
    for s in range(scenes):
        base = f"{rng.getrandbits(256):064x}"
        for i in range(per_scene):
            n = s * per_scene + i
            frames.append(VpdqFrame(n, quality, flipped(base, rng.randint(0, 4), rng), n / 30))
    return frames


def reencoded(frames: list[VpdqFrame], seed: int, bits: int = 8) -> list[VpdqFrame]:
    rng = random.Random(seed)
    return [VpdqFrame(f.frame, f.quality, flipped(f.pdq, bits, rng), f.timestamp) for f in frames]
