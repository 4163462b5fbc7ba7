"""Meta's brute-force vPDQ comparison: the reference the node's index must agree with.

Two videos are bags of distinct good frames (``hashlist.vpdq.distinct_good``);
a frame matches when some frame of the other video is within ``distance``
bits. Quadratic in frames, so for tests, tools and checking the node's
answers, never for matching against a list. Kept apart from ``hashlist.vpdq``
so that decoding a log (which imports that) never loads numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hashlist.vpdq import FRAME_DISTANCE


def codes_array(codes: Sequence[str]) -> np.ndarray:
    """PDQ hex codes as an (n, 4) array of 64-bit words."""
    return np.frombuffer(bytes.fromhex("".join(codes)), ">u8").reshape(len(codes), 4)


def match_percentages(
    query: Sequence[str], target: Sequence[str], *, distance: int = FRAME_DISTANCE
) -> tuple[float, float]:
    """Meta's brute-force comparison of two frame sets (distinct, good frames only):
    (percent of ``query`` matching some of ``target``, percent of ``target`` matched)."""
    if not query or not target:
        return 0.0, 0.0
    q, t = codes_array(query), codes_array(target)
    near = np.zeros((len(q), len(t)), np.bool_)
    for at in range(0, len(q), 256):  # 256 x 900 x 4 words at a time: bounded memory
        bits = np.bitwise_count(q[at : at + 256, None, :] ^ t[None, :, :]).sum(axis=2)
        near[at : at + 256] = bits <= distance
    matched_query, matched_target = int(near.any(axis=1).sum()), int(near.any(axis=0).sum())
    return 100.0 * matched_query / len(q), 100.0 * matched_target / len(t)
