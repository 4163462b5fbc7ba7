"""Hashing a video on the device: one minute of synthetic 720p 30 fps H.264 at one
frame per second (vPDQ), on one core; target under 10 s.

Beside it, in the same run, the floor: decoding every frame with PyAV and
nothing else (every frame must be decoded to reach the sampled ones).

    python -m bench.bench_video_hash --seconds 60 --runs 3
"""

from __future__ import annotations

import argparse
import io
import os

import av

from bench.common import header, median_seconds
from hashlist.video import VideoLimits, hash_video
from tests.video_support import synthetic_video


def decode_only(data: bytes) -> int:
    with av.open(io.BytesIO(data), "r", format="mov") as c:
        stream = c.streams.video[0]
        stream.codec_context.thread_count = 1
        return sum(1 for _ in c.decode(stream))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as on a phone's
    header(f"vPDQ of {args.seconds} s of synthetic 1280x720 30 fps H.264, 1 frame/s, one core",
           args.runs)  # fmt: skip
    # x264's default preset (CABAC, B-frames): as costly to decode as a real upload.
    data = synthetic_video(11, seconds=args.seconds, size=(1280, 720), preset="medium")
    frames = decode_only(data)
    print(f"# {len(data) / 2**20:.1f} MiB, {frames} frames, PyAV {av.__version__} "
          f"(FFmpeg {av.ffmpeg_version_info})")  # fmt: skip
    limits = VideoLimits(seconds_per_hash=1.0)
    hashed = len(hash_video(io.BytesIO(data), "bench.mp4", limits))
    floor, floor_all = median_seconds(lambda: decode_only(data), args.runs)
    ours, ours_all = median_seconds(lambda: hash_video(io.BytesIO(data), "b", limits), args.runs)
    print(f"{'hashlist hash_video (decode + ' + str(hashed) + ' PDQ)':<58} {ours:>10.2f} s"
          f"  runs {', '.join(f'{t:.2f}' for t in ours_all)}  target < 10 s")  # fmt: skip
    print(f"{'decode only, PyAV (reference floor)':<58} {floor:>10.2f} s"
          f"  runs {', '.join(f'{t:.2f}' for t in floor_all)}")  # fmt: skip
    print(f"# {frames / ours:.0f} frames/s hashed-video throughput; hashing adds "
          f"{100 * (ours / floor - 1):.0f} % over decoding")  # fmt: skip


if __name__ == "__main__":
    main()
