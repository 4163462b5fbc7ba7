"""Listing videos and near-matching them at the node, over a real hub with mTLS.

A video is listed from its ``hashlist hash`` line (its frames ride in the
signed delta), the node verifies and keeps the frames, and a check with a
video's frames finds it by Meta's vPDQ algorithm: the percentages must equal
the brute-force reference (``hashlist.vpdq_match``).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from hashlist.clock import SystemClock
from hashlist.errors import InputError
from hashlist.hashing import hash_file
from hashlist.signal_file import read_publication
from hashlist.vpdq import FrameSet, VpdqFrame, distinct_good
from hashlist.vpdq_match import match_percentages
from node.matcher import MatchSettings, open_matcher
from node.videos import VideoSettings
from tests.integration import test_matching
from tests.integration.test_matching import LIST, Rig, make_node
from tests.video_frames import flipped, reencoded, video

rig = test_matching.rig  # the same hub, node and operator as the image tests


def list_video(rig: Rig, frames: list[VpdqFrame], tmp: Path) -> FrameSet:
    """Publish a video the way an operator does: from the line ``hashlist hash`` printed."""
    listed = FrameSet.of(frames)
    line = {"file": "clip.mp4", "md5": "0" * 32, "sha256": "1" * 64,
            "vpdq": [f.to_json() for f in frames], "signals": [listed.signal]}  # fmt: skip
    path = tmp / "clip.jsonl"
    path.write_text(json.dumps(line) + "\n")
    signals, videos = read_publication(path)
    assert videos == [listed]
    rig.operator.publish(LIST, signals, videos=videos)
    rig.node.sync()
    return listed


def test_a_reencoded_copy_matches_by_the_reference_percentages(rig: Rig, tmp_path: Path) -> None:
    original = video(1)
    listed = list_video(rig, original, tmp_path)
    query = reencoded(original[:45], seed=7)  # three quarters of it, each frame altered
    answer = rig.node.matcher.check(vpdq=query, content_id="upload-1")
    (match,) = answer.matches
    q_ref, t_ref = match_percentages(distinct_good(query), listed.codes)
    assert match.signal == listed.signal
    assert (match.query_match_percent, match.target_match_percent) == (q_ref, t_ref)
    assert t_ref >= 70.0
    assert match.distance == round(len(listed) * (100 - t_ref) / 100)  # frames unmatched
    assert match.version == 1
    assert match.report_id  # reported to the hub like any match, and the hub takes it
    while rig.node.sender.drain_once():
        pass
    (seen,) = rig.operator.matches(LIST)
    assert (seen.signal, seen.partners) == (listed.signal, (("facebook", 1),))


def test_an_unrelated_video_does_not_match(rig: Rig, tmp_path: Path) -> None:
    list_video(rig, video(1), tmp_path)
    assert rig.node.matcher.check(vpdq=video(2)).matches == ()


def test_thresholds_are_per_list(rig: Rig, tmp_path: Path) -> None:
    original = video(1)
    list_video(rig, original, tmp_path)
    half = reencoded(original[:30], seed=3)  # matches half of the listed frames
    assert rig.node.matcher.check(vpdq=half).matches == ()  # default: 80% of the target
    lenient = MatchSettings(background_merge=False,
                            video=VideoSettings(per_list={LIST: (40.0, 90.0)}))  # fmt: skip
    other = open_matcher(rig.tmp / "node.db", (LIST,), SystemClock(), lenient)
    try:
        other.load()
        (match,) = other.check(vpdq=half, report=False).matches
        assert 40.0 <= match.target_match_percent < 80.0
        assert match.query_match_percent >= 90.0
    finally:
        other.close()


def test_retracting_a_video_keeps_the_frames_another_still_holds(rig: Rig, tmp_path: Path) -> None:
    first = video(1)
    second = first[:40] + video(5, scenes=1, per_scene=3)  # 40 frames in common, 3 its own
    a = list_video(rig, first, tmp_path)
    b = list_video(rig, second, tmp_path)
    query = reencoded(first, seed=11)
    assert {m.signal for m in rig.node.matcher.check(vpdq=query).matches} == {a.signal, b.signal}
    rig.operator.publish(LIST, [], [a.signal])
    rig.node.sync()
    assert [m.signal for m in rig.node.matcher.check(vpdq=query).matches] == [b.signal]
    rig.operator.publish(LIST, [], [b.signal])
    rig.node.sync()
    assert rig.node.matcher.check(vpdq=query).matches == ()
    assert len(rig.node.matcher.videos) == 0  # nothing left in the frame index


def test_a_new_node_gets_the_frames_from_a_verified_snapshot(rig: Rig, tmp_path: Path) -> None:
    original = video(1)
    listed = list_video(rig, original, tmp_path)
    (tmp_path / "second").mkdir()
    fresh = make_node(tmp_path / "second", rig.pki, rig.port, rig.tmp / "trust.toml")
    try:
        fresh.sync()  # empty: bootstraps from a snapshot, frames and all
        (match,) = fresh.matcher.check(vpdq=reencoded(original, seed=2), report=False).matches
        assert match.signal == listed.signal
        assert match.target_match_percent == 100.0
    finally:
        fresh.hub_client.close()
        fresh.store.close()
        fresh.matcher.close()


def test_a_video_without_its_frames_is_refused_by_the_hub(rig: Rig) -> None:
    listed = FrameSet.of(video(1))
    with pytest.raises(InputError, match="without their frames"):
        rig.operator.publish(LIST, [listed.signal])
    other = FrameSet.of(video(2))
    with pytest.raises(InputError, match="does not add"):
        rig.operator.publish(LIST, [listed.signal], videos=[listed, other])


def test_exact_video_signal_matches_whole(rig: Rig, tmp_path: Path) -> None:
    listed = list_video(rig, video(1), tmp_path)
    (match,) = rig.node.matcher.check(signals=[listed.signal], report=False).matches
    assert (match.distance, match.target_match_percent) == (0, 100.0)


def test_metas_grey_variant_matches_its_listed_original_by_its_bytes(
    rig: Rig, tmp_path: Path, vectors: Path
) -> None:
    videos = vectors / "vpdq" / "videos"
    original = hash_file(videos / "chair-orig-22-sd-bar.mp4")
    assert original.vpdq is not None
    listed = list_video(rig, list(original.vpdq), tmp_path)
    grey = (videos / "chair-22-sd-grey-bar.mp4").read_bytes()
    answer = rig.node.matcher.check(content=grey, content_id="upload-9")
    (match,) = [m for m in answer.matches if m.signal.startswith("vpdq:")]
    assert match.signal == listed.signal
    assert match.target_match_percent >= 80.0
    other = (videos / "doorknob-hd-no-bar.mp4").read_bytes()
    assert rig.node.matcher.check(content=other, report=False).matches == ()


def test_a_static_scene_against_a_listed_slideshow_stays_bounded(rig: Rig, tmp_path: Path) -> None:
    rng = random.Random(3)
    centre = f"{rng.getrandbits(256):064x}"
    slideshow = [VpdqFrame(i, 90, flipped(centre, 6, rng), float(i)) for i in range(900)]
    listed = list_video(rig, slideshow, tmp_path)
    query = [VpdqFrame(i, 90, flipped(centre, 6, rng), float(i)) for i in range(5_000)]
    answer = rig.node.matcher.check(vpdq=query, report=False)  # 4.5 million near pairs
    assert [m.signal for m in answer.matches] == [listed.signal]
    assert any("search for listed videos stopped" in n for n in answer.notes)
