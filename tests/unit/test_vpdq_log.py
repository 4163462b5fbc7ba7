"""Videos in the log: the frame set's bytes, its digest, and the delta's frames lines.

An independent verifier must be able to recompute a video's signal from the
bytes of its ``frames`` line, and must refuse a leaf whose frames are missing,
extra, out of order or not the ones the signal names.
"""

from __future__ import annotations

import random
from hashlib import sha256

import pytest

from hashlist.delta import (
    FRAMES_LINE_OVERHEAD,
    MAX_CHANGE_LINE_BYTES,
    MAX_ENTRY_BYTES,
    MAX_HEADER_BYTES,
    decode_delta,
    make_delta,
)
from hashlist.errors import InputError, MalformedDeltaError
from hashlist.log import plan_deltas
from hashlist.lthash import LtHash16
from hashlist.signals import SignalText
from hashlist.snapshot import _frames
from hashlist.vpdq import DOMAIN, MAX_FRAMES, FrameSet, VpdqFrame, parse_frame_text
from hashlist.vpdq_match import match_percentages
from tests.video_frames import video

DIGEST = bytes(32)
MD5 = SignalText("md5:" + "a" * 32)


def frame(n: int, code: str, quality: int = 90) -> VpdqFrame:
    return VpdqFrame(n, quality, code, n / 30)


def test_a_frame_set_is_the_distinct_good_frames_in_ascending_order() -> None:
    a, b, c = "c" * 64, "a" * 64, "b" * 64
    frames = [frame(0, a), frame(1, b), frame(2, a), frame(3, c, quality=49)]
    fs = FrameSet.of(frames)
    assert fs.codes == (b, a)  # quality 49 left out, the repeat once, sorted
    assert fs.text == f"{b},{a}".encode()
    # The signal is SHA-256 over the domain line and the text: recomputable by anyone.
    assert fs.signal == "vpdq:" + sha256(b"hashlist-vpdq/v1\n" + fs.text).hexdigest()
    assert DOMAIN == b"hashlist-vpdq/v1\n"


def test_a_featureless_video_has_no_frame_set() -> None:
    with pytest.raises(InputError, match="quality 50 or more"):
        FrameSet.of([frame(0, "a" * 64, quality=10)])


def test_a_long_video_keeps_an_evenly_spaced_bounded_sample() -> None:
    codes = [f"{i:064x}" for i in range(3 * MAX_FRAMES)]
    fs = FrameSet.of([frame(i, c) for i, c in enumerate(codes)])
    assert len(fs) == MAX_FRAMES
    assert fs.codes == tuple(codes[::3])
    assert len(fs.text) < 60_000


@pytest.mark.parametrize(
    "text",
    [b"", b"A" * 64, b"b" * 64 + b"," + b"a" * 64, b"a" * 64 + b"," + b"a" * 64,
     b"a" * 64 + b",", b"a" * 63],
)  # fmt: skip
def test_only_canonical_frame_text_parses(text: bytes) -> None:
    assert parse_frame_text(text) is None


def test_a_delta_carries_the_frames_of_each_added_video() -> None:
    one, two = FrameSet.of(video(1)), FrameSet.of(video(2))
    delta = make_delta("clips", 3, DIGEST, [MD5, two.signal, one.signal], [], videos=[one, two])
    leaf = delta.encode()
    frames_lines = [line for line in leaf.split(b"\n") if line.startswith(b"frames ")]
    by_signal = sorted([one, two], key=lambda v: v.signal)
    assert frames_lines == [b"frames " + v.text for v in by_signal]  # in the add lines' order
    assert decode_delta(leaf) == delta
    assert decode_delta(leaf).videos == tuple(by_signal)


def test_a_video_cannot_be_added_without_its_frames() -> None:
    one = FrameSet.of(video(1))
    with pytest.raises(InputError, match="without their frames"):
        make_delta("clips", 1, DIGEST, [one.signal], [])
    # Retracting one needs no frames: the verifier knows them already.
    assert decode_delta(make_delta("clips", 2, DIGEST, [], [one.signal]).encode()).videos == ()


def _leaf(*videos: FrameSet) -> bytes:
    return make_delta("clips", 1, DIGEST, [v.signal for v in videos], [], videos=videos).encode()


def test_frames_that_do_not_hash_to_the_signal_are_refused() -> None:
    one, two = FrameSet.of(video(1)), FrameSet.of(video(2))
    forged = _leaf(one).replace(one.text, two.text)
    with pytest.raises(MalformedDeltaError, match="do not hash to it"):
        decode_delta(forged)


def test_missing_or_extra_frames_lines_are_refused() -> None:
    one = FrameSet.of(video(1))
    leaf = _leaf(one)
    without = leaf[: leaf.index(b"frames ")]
    with pytest.raises(MalformedDeltaError, match=r"1 video.* but 0 'frames'"):
        decode_delta(without)
    with pytest.raises(MalformedDeltaError, match=r"1 video.* but 2 'frames'"):
        decode_delta(leaf + b"frames " + one.text + b"\n")


def test_frames_out_of_order_or_misplaced_are_refused() -> None:
    one = FrameSet.of(video(1))
    leaf = _leaf(one)
    shuffled = leaf.replace(one.text, b",".join(reversed(one.text.split(b","))))
    with pytest.raises(MalformedDeltaError, match="ascending"):
        decode_delta(shuffled)
    head, _, frames = leaf.partition(b"frames ")
    misplaced = head + b"frames " + frames + b"remove " + MD5.encode() + b"\n"
    with pytest.raises(MalformedDeltaError, match="order add, remove, frames"):
        decode_delta(misplaced)


def _maximal_video(seed: int) -> FrameSet:
    rng = random.Random(seed)
    return FrameSet(tuple(sorted({f"{rng.getrandbits(256):064x}" for _ in range(MAX_FRAMES)})))


def test_a_leaf_adding_a_900_frame_video_stays_within_the_v2_bound() -> None:
    video = _maximal_video(1)
    assert len(video.codes) == MAX_FRAMES
    assert len(video.text) == 58_499
    # The bound the planner relies on, whatever the list id, version and signal kinds ...
    worst = MAX_HEADER_BYTES + MAX_CHANGE_LINE_BYTES + FRAMES_LINE_OVERHEAD + len(video.text)
    assert worst == 58_772 <= MAX_ENTRY_BYTES
    # ... and a real leaf with the longest header: a 63-character list id, version 2^63-1.
    leaf = make_delta("l" * 63, 2**63 - 1, DIGEST, [video.signal], [], videos=[video]).encode()
    assert len(leaf) <= worst
    assert decode_delta(leaf).videos == (video,)


def test_publications_split_so_that_each_leaf_stays_bounded() -> None:
    videos = [_maximal_video(seed) for seed in range(3)]
    hashes = {SignalText(f"sha256:{i:064x}") for i in range(2000)}
    adds = {v.signal for v in videos} | hashes
    frames = {v.signal: v for v in videos}
    plans = plan_deltas("l" * 63, 2**63 - 100, LtHash16().to_bytes(), adds, set(),
                        present=set(), max_delta_bytes=MAX_ENTRY_BYTES, videos=frames)  # fmt: skip
    assert len(plans) >= 5
    assert all(len(p.leaf) <= MAX_ENTRY_BYTES for p in plans)
    decoded = [decode_delta(p.leaf) for p in plans]
    assert {v for d in decoded for v in d.videos} == set(videos)  # each in the leaf adding it
    assert {s for d in decoded for s in d.additions} == adds
    with pytest.raises(InputError, match="cannot hold a single change"):
        plan_deltas("clips", 1, LtHash16().to_bytes(), adds, set(), present=set(),
                    max_delta_bytes=32 * 1024, videos=frames)  # fmt: skip
    with pytest.raises(InputError, match="over 65535"):
        plan_deltas("clips", 1, LtHash16().to_bytes(), adds, set(), present=set(),
                    max_delta_bytes=MAX_ENTRY_BYTES + 1, videos=frames)  # fmt: skip


def test_a_snapshot_batch_must_bring_each_videos_frames() -> None:
    one, two = FrameSet.of(video(1)), FrameSet.of(video(2))
    assert _frames([MD5, one.signal], [one.text]) == [one]
    with pytest.raises(MalformedDeltaError, match=r"1 video.* but 0 frame set"):
        _frames([MD5, one.signal], [])
    with pytest.raises(MalformedDeltaError, match="do not hash to it"):
        _frames([one.signal], [two.text])


def test_reference_percentages_on_known_sets() -> None:
    near = "0" * 63 + "1"  # 1 bit from zero
    far = "f" * 64
    query, target = ["0" * 64, far], [near, "0" * 62 + "ff", "1" * 64]
    # query: zero matches near (1) and 0..0ff (8); far matches nothing -> 50%.
    # target: near and 0..0ff are matched; 1..1 (64 bits from zero) is not -> 2/3.
    q, t = match_percentages(query, target)
    assert q == 50.0
    assert t == pytest.approx(200 / 3)
