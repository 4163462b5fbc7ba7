"""Synthetic videos for the video tests and benchmark, encoded with PyAV (never real imagery).

``synthetic_video`` draws moving shapes over a gradient, different for each
seed; ``reencode`` scales a video and encodes it again (an edited copy);
``flat_video`` is featureless; ``tiny_video`` makes many small frames quickly (a budget test);
``huge_header_video`` is a small MJPEG-in-MOV whose header and frames claim
an absurd size, for the test that refuses it before decoding.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable, Iterator

import av
import numpy as np


def _encode(
    frames: Iterable[np.ndarray],
    *,
    size: tuple[int, int],
    fps: int,
    codec: str,
    fmt: str,
    pix_fmt: str = "yuv420p",
    options: dict[str, str] | None = None,
) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=fps, options=options or {})
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = size
        stream.pix_fmt = pix_fmt
        stream.codec_context.thread_count = 1
        for rgb in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())
    return buf.getvalue()


def drawn_frames(seed: int, count: int, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Frames of a gradient with a bright rectangle and a dark disc moving across it."""
    rng = np.random.default_rng(seed)
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w]
    angle = rng.uniform(0, 2 * np.pi)
    base = (np.cos(angle) * xs / w + np.sin(angle) * ys / h) * 127 + 64
    tint = rng.uniform(0.5, 1.0, 3)
    (vx, vy), (ux, uy) = rng.uniform(-3, 3, (2, 2)) * (w / 160)
    for t in range(count):
        img = base[:, :, None] * tint[None, None, :]
        rx, ry = int(w / 4 + vx * t) % w, int(h / 4 + vy * t) % h
        img[ry : ry + h // 4, rx : rx + w // 3] = (250, 240, 200)
        cx, cy = (w / 2 + ux * t) % w, (h / 2 + uy * t) % h
        img[(xs - cx) ** 2 + (ys - cy) ** 2 < (h / 6) ** 2] = (20, 30, 60)
        yield np.clip(img, 0, 255).astype(np.uint8)


def synthetic_video(seed: int, *, seconds: float = 3.0, fps: int = 30,
                    size: tuple[int, int] = (320, 240), codec: str = "libx264",
                    fmt: str = "mp4", preset: str = "ultrafast") -> bytes:  # fmt: skip
    """An MP4 (H.264) of moving shapes: ``seconds * fps`` frames. ``preset`` is x264's
    (``medium``, its default, is what a real encoder's output costs to decode)."""
    count = round(seconds * fps)
    opts = {"preset": preset} if codec == "libx264" else {}
    return _encode(drawn_frames(seed, count, size), size=size, fps=fps, codec=codec, fmt=fmt,
                   options=opts)  # fmt: skip


def reencode(data: bytes, scale: float) -> bytes:
    """``data`` decoded, scaled by ``scale`` (even sides) and encoded again as H.264 MP4."""
    with av.open(io.BytesIO(data), "r") as src:
        stream = src.streams.video[0]
        rate = int(stream.average_rate or 30)
        w = int(stream.codec_context.width * scale) // 2 * 2
        h = int(stream.codec_context.height * scale) // 2 * 2
        frames = (f.to_ndarray(format="rgb24", width=w, height=h) for f in src.decode(stream))
        return _encode(frames, size=(w, h), fps=rate, codec="libx264", fmt="mp4",
                       options={"preset": "ultrafast", "crf": "28"})  # fmt: skip


def flat_video(seconds: int = 1) -> bytes:
    """Uniform grey frames: nothing for PDQ to see (quality 0)."""
    frames = (np.full((48, 64, 3), 128, np.uint8) for _ in range(30 * seconds))
    return _encode(frames, size=(64, 48), fps=30, codec="libx264", fmt="mp4")


def tiny_video(count: int, *, size: tuple[int, int] = (16, 16), fmt: str = "matroska") -> bytes:
    """``count`` frames of ``size`` at 30 fps, quickly: 32 drawn frames over and over.
    Matroska declares no frame count, so a decoder's budget is what stops it."""
    cycle = list(drawn_frames(7, 32, size))
    frames = (cycle[i % len(cycle)] for i in range(count))
    return _encode(frames, size=size, fps=30, codec="libx264", fmt=fmt,
                   options={"preset": "ultrafast", "g": "300"})  # fmt: skip


def huge_header_video(width: int, height: int) -> bytes:
    """A 64x48 MJPEG-in-MOV whose sample description, track header and every JPEG
    frame header (SOF0) are patched to claim ``width`` x ``height``."""
    data = bytearray(_encode(drawn_frames(3, 5, (64, 48)), size=(64, 48), fps=30,
                             codec="mjpeg", fmt="mov", pix_fmt="yuvj420p"))  # fmt: skip
    entry = data.find(b"jpeg", data.find(b"stsd"))
    struct.pack_into(">HH", data, entry + 28, width, height)  # after 24 bytes of fields
    tkhd = data.find(b"tkhd")  # version 0: the 16.16 sizes end the 84-byte body
    struct.pack_into(">II", data, tkhd + 4 + 76, width << 16, height << 16)
    at = 0
    while (at := data.find(b"\xff\xc0", at + 1)) > 0:  # SOF0: length, precision, h, w
        struct.pack_into(">HH", data, at + 5, height, width)
    return bytes(data)
