"""vPDQ video hashing: agreement with Meta's reference hashes, matching of edited
copies, refusal of corrupt, truncated and hostile videos, budgets and the CLI.

Meta's sample videos and their hashes (every frame, ``seconds_per_hash`` 0)
are read from the conformance vectors (``vectors`` fixture), never copied.
"""

from __future__ import annotations

import io
import json
import resource
import time
import tracemalloc
from functools import cache
from pathlib import Path

import pytest

from hashlist.cli import main
from hashlist.hashing import HashingError, hash_bytes, hash_file
from hashlist.video import VideoError, VideoLimits, hash_video, looks_like_video
from hashlist.vpdq import FRAME_QUALITY, TARGET_MATCH_PERCENT, FrameSet, VpdqFrame
from hashlist.vpdq_match import match_percentages
from tests.video_support import flat_video, huge_header_video, reencode, synthetic_video, tiny_video

SAMPLES = ("chair-22-sd-grey-bar", "chair-22-with-small-logo-bar", "chair-orig-22-sd-bar",
           "doorknob-hd-no-bar", "pattern-sd-grey-bar", "test-padded-dimensions")  # fmt: skip
NEAR = 16  # bits: "the same frame" for a reference comparison


def reference(vectors: Path, name: str) -> list[VpdqFrame]:
    rows = (line.split(",") for line in (vectors / "vpdq" / "hashes" / name).read_text().split())
    return [VpdqFrame(int(n), int(q), h, float(t)) for n, q, h, t in rows]


@cache
def hashed(path: str, seconds_per_hash: float, downsample: tuple[int, int] | None = None
           ) -> tuple[VpdqFrame, ...]:  # fmt: skip
    limits = VideoLimits(seconds_per_hash=seconds_per_hash, downsample=downsample)
    with open(path, "rb") as f:
        return hash_video(f, Path(path).name, limits)


def video(vectors: Path, name: str) -> str:
    return str(vectors / "vpdq" / "videos" / f"{name}.mp4")


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


# --- Meta's reference ---


def test_every_frame_agrees_with_metas_reference(vectors: Path) -> None:
    """Every reference file in the vectors (``NAME.txt`` at native size,
    ``NAME-128x128.txt`` downsampled), not a fixed list: any sample added there
    is checked the same way."""
    files = sorted((vectors / "vpdq" / "hashes").glob("*.txt"))
    assert len(files) >= len(SAMPLES)
    for ref_file in files:
        small = ref_file.stem.endswith("-128x128")
        name = ref_file.stem.removesuffix("-128x128")
        assert Path(video(vectors, name)).is_file(), f"{ref_file.name} has no video"
        _agrees(vectors, ref_file, name, (128, 128) if small else None)


def _agrees(vectors: Path, ref_file: Path, name: str, downsample: tuple[int, int] | None) -> None:
    ref = reference(vectors, ref_file.name)
    ours = hashed(video(vectors, name), 0, downsample)
    what = ref_file.name
    assert [f.frame for f in ours] == [f.frame for f in ref], what  # every frame, same numbers
    near = [distance(a.pdq, b.pdq) <= NEAR for a, b in zip(ours, ref, strict=True)]
    good = [ok for ok, b in zip(near, ref, strict=True) if b.quality >= FRAME_QUALITY]
    # Frames of quality < 50 are near-uniform (fades to black): their bits are
    # rounding noise, in Meta's output as in ours, and never compared.
    assert sum(good) >= 0.95 * len(good), what
    assert sum(near) >= (0.95 if downsample is None else 0.85) * len(near), what
    close_quality = [abs(a.quality - b.quality) <= 5 for a, b in zip(ours, ref, strict=True)]
    assert sum(close_quality) >= 0.9 * len(ref), what
    assert all(abs(a.timestamp - b.timestamp) < 0.0015
               for a, b in zip(ours, ref, strict=True)), what  # fmt: skip


@pytest.mark.parametrize("name", SAMPLES)
def test_one_frame_per_second_is_metas_selection(vectors: Path, name: str) -> None:
    ref = reference(vectors, f"{name}.txt")
    rate = round(1 / ref[1].timestamp)  # 30 fps for every sample
    ours = hashed(video(vectors, name), 1.0)
    assert [f.frame for f in ours] == [f.frame for f in ref if f.frame % rate == 0]
    by_frame = {f.frame: f for f in ref}
    assert all(distance(f.pdq, by_frame[f.frame].pdq) <= NEAR for f in ours
               if f.quality >= FRAME_QUALITY)  # fmt: skip


# --- Matching edited copies, not different videos ---


def codes(frames: tuple[VpdqFrame, ...]) -> tuple[str, ...]:
    return FrameSet.of(frames).codes


@pytest.mark.parametrize("variant", ["chair-22-sd-grey-bar", "chair-22-with-small-logo-bar"])
def test_edited_chair_matches_the_original(vectors: Path, variant: str) -> None:
    original = codes(hashed(video(vectors, "chair-orig-22-sd-bar"), 1.0))
    _, target = match_percentages(codes(hashed(video(vectors, variant), 1.0)), original)
    assert target >= TARGET_MATCH_PERCENT


def test_a_half_size_reencode_matches_the_original(vectors: Path) -> None:
    path = video(vectors, "chair-orig-22-sd-bar")
    small = reencode(Path(path).read_bytes(), 0.5)
    frames = hash_video(io.BytesIO(small), "small.mp4", VideoLimits())
    _, target = match_percentages(codes(frames), codes(hashed(path, 1.0)))
    assert target >= TARGET_MATCH_PERCENT


@pytest.mark.parametrize(("a", "b"), [("doorknob-hd-no-bar", "chair-orig-22-sd-bar"),
                                      ("chair-orig-22-sd-bar", "pattern-sd-grey-bar"),
                                      ("pattern-sd-grey-bar", "doorknob-hd-no-bar")])  # fmt: skip
def test_different_videos_do_not_match(vectors: Path, a: str, b: str) -> None:
    qa, qb = codes(hashed(video(vectors, a), 1.0)), codes(hashed(video(vectors, b), 1.0))
    assert match_percentages(qa, qb)[1] < TARGET_MATCH_PERCENT
    assert match_percentages(qb, qa)[1] < TARGET_MATCH_PERCENT


# --- Files that are not videos, or broken ones ---


def test_a_video_file_gets_vpdq_and_its_signal() -> None:
    result = hash_bytes(synthetic_video(1, seconds=3), "clip.mp4")
    assert result.vpdq is not None
    assert [f.frame for f in result.vpdq] == [0, 30, 60]
    assert result.signals[0] == FrameSet.of(result.vpdq).signal
    assert [s.split(":")[0] for s in result.signals] == ["vpdq", "md5", "sha256"]
    assert result.to_json()["vpdq"] == [f.to_json() for f in result.vpdq]


def test_a_featureless_video_has_a_note_and_no_vpdq_signal() -> None:
    result = hash_bytes(flat_video(), "flat.mp4")
    assert result.vpdq is not None
    assert [f.quality for f in result.vpdq] == [0]
    assert "too featureless to near-match by vpdq" in result.note
    assert [s.split(":")[0] for s in result.signals] == ["md5", "sha256"]


def test_a_corrupt_video_is_an_error(vectors: Path) -> None:
    head = (vectors / "vpdq" / "videos" / "doorknob-hd-no-bar.mp4").read_bytes()[:32]
    assert head[4:8] == b"ftyp"
    junk = head + bytes((i * 131 + 7) % 256 for i in range(50_000))
    with pytest.raises(VideoError, match=r"junk\.mp4: cannot decode video"):
        hash_bytes(junk, "junk.mp4")


def test_a_truncated_video_is_an_error_not_a_partial_result(vectors: Path) -> None:
    data = (vectors / "vpdq" / "videos" / "chair-orig-22-sd-bar.mp4").read_bytes()
    with pytest.raises(HashingError, match=r"half\.mp4: truncated or corrupt video: decoding "
                       r"fails after [\d,]+ of the 673 frames"):  # fmt: skip
        hash_bytes(data[: len(data) // 2], "half.mp4")


def test_other_files_get_the_exact_hashes_only(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"not a video, not an image\n" * 100)
    result = hash_file(path)
    assert result.vpdq is None
    assert result.pdq is None
    assert [s.split(":")[0] for s in result.signals] == ["md5", "sha256"]
    assert "md5 and sha256 only" in result.note
    with pytest.raises(VideoError, match="not a video container"):
        hash_video(io.BytesIO(b"not a video"), "x", VideoLimits())


@pytest.mark.parametrize(("head", "video"), [
    (b"\x00\x00\x00\x18ftypmp42", True), (b"\x00\x00\x00\x14ftypqt  ", True),
    (b"\x00\x00\x00\x18ftyp3gp4", True), (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", True),
    (b"RIFF\x00\x00\x00\x00AVI LIST", True), (b"FLV\x01\x05", True),
    (b"\x00\x00\x01\xba\x44", True), (bytes([0x47] + [0] * 187) * 3, True),
    (b"\x00\x00\x00\x18ftypheic", False), (b"\x00\x00\x00\x1cftypavif", False),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", False), (b"#EXTM3U\n", False),
    (b"ffconcat version 1.0\n", False), (b"G" + bytes(400), False), (b"", False),
])  # fmt: skip
def test_looks_like_video_by_magic_bytes(head: bytes, video: bool) -> None:
    assert looks_like_video(head) is video


# --- Budgets ---


def test_a_header_claiming_an_absurd_size_is_refused_before_decoding() -> None:
    for side in (30_000, 9_000):
        started = time.monotonic()
        with pytest.raises(VideoError, match=r"budget of 33,177,600 pixels.*refused, not decoded"):
            hash_bytes(huge_header_video(side, side), "huge.mov")
        assert time.monotonic() - started < 1.0


def test_frames_over_the_pixel_budget_are_refused_from_the_header() -> None:
    data = synthetic_video(2, seconds=1)
    with pytest.raises(VideoError, match=r"320 x 240 frames are over the budget of 10,000 pixels"):
        hash_video(io.BytesIO(data), "big.mp4", VideoLimits(max_frame_pixels=10_000))


def test_many_tiny_frames_are_hashed_in_bounded_memory_or_refused() -> None:
    data = tiny_video(100_000)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    try:
        frames = hash_video(io.BytesIO(data), "tiny.mkv", VideoLimits())
        _, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [f.frame for f in frames] == list(range(0, 100_000, 30))
    assert python_peak < 20 << 20  # the output list, not the frames
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 200 << 10
    with pytest.raises(VideoError, match=r"over the budget of 50,000 decoded frames"):
        hash_video(io.BytesIO(data), "tiny.mkv", VideoLimits(max_frames=50_000))


def test_frame_counts_declared_over_the_budget_are_refused_before_decoding() -> None:
    data = synthetic_video(3, seconds=2)  # MP4 declares its 60 frames
    with pytest.raises(VideoError, match=r"60 frames or more are over the budget of 10 decoded"):
        hash_video(io.BytesIO(data), "long.mp4", VideoLimits(max_frames=10))
    with pytest.raises(VideoError, match=r"over 1 frames to hash: hash it with more seconds"):
        hash_video(io.BytesIO(data), "long.mp4", VideoLimits(max_hashed_frames=1))


def test_the_wall_clock_budget_refuses() -> None:
    data = synthetic_video(4, seconds=1)
    with pytest.raises(VideoError, match=r"over the budget of 0 s of wall-clock time"):
        hash_video(io.BytesIO(data), "slow.mp4", VideoLimits(max_seconds=0))


# --- The command ---


def test_cli_hash_prints_vpdq_frames_and_signal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(synthetic_video(5, seconds=2))
    assert main(["hash", str(clip)]) == 0
    line = json.loads(capsys.readouterr().out)
    assert [f[0] for f in line["vpdq"]] == [0, 30]
    assert line["signals"][0].startswith("vpdq:")
    assert main(["hash", "--seconds-per-hash", "0", "--downsample", "64x48", str(clip)]) == 0
    every = json.loads(capsys.readouterr().out)["vpdq"]
    assert [f[0] for f in every] == list(range(60))
    assert every[1][3] == pytest.approx(1 / 30, abs=1e-3)


@pytest.mark.parametrize("bad", [["--seconds-per-hash", "-1"], ["--seconds-per-hash", "x"],
                                 ["--downsample", "128"], ["--downsample", "2x2"]])  # fmt: skip
def test_cli_refuses_bad_video_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: list[str]
) -> None:
    assert main(["hash", *bad, str(tmp_path / "clip.mp4")]) == 2
    assert bad[0] in capsys.readouterr().err
