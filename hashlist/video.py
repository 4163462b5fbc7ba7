"""Video hashing on the device: Meta's vPDQ, decoded with PyAV (FFmpeg) frame by frame.

``hash_video`` returns one ``VpdqFrame`` per sampled frame, computed as Meta's
reference (``vpdq/cpp/hashing/filehasher.cpp``) does: the frame rate is the
stream's average rate (else its base rate); frames are numbered 0, 1, ... in
the decoder's output order; frame ``n`` is hashed when
``n % max(1, int(seconds_per_hash * rate)) == 0``; each hashed frame becomes
RGB24 through swscale with area averaging, at its native size or at
``downsample``, and then PDQ (``pdqhash``, Meta's C++); its timestamp is
``n / rate``. On Meta's sample videos this agrees with Meta's output to a bit
or two per frame (``tests/unit/test_video.py``).

Invariants (untrusted files are decoded here, so each is a defence):
- FFmpeg only sees data whose first bytes say it is one of the containers in
  ``_CONTAINERS``, opened with that demuxer named explicitly: FFmpeg never
  probes, so a playlist or concat file (demuxers that open other files) is
  never one it parses. Only the codecs in ``_CODECS`` are decoded.
- Frames larger than ``VideoLimits.max_frame_pixels`` are refused from the
  stream header before anything is decoded, and again per decoded frame;
  decoded frames, hashed frames and wall-clock time are budgeted too.
- Memory is one decoded frame (and its RGB copy) plus the output list: frames
  are decoded one at a time on one thread (frame threading would hold several).
- Every failure is a ``VideoError`` naming the file and what to do about it,
  never a partial result: a video whose decoding stops short of the frames
  its container declares is truncated, and an error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import BinaryIO

import av
import numpy as np
import pdqhash
from av.video.reformatter import Colorspace, Interpolation

from hashlist.errors import HashingError
from hashlist.vpdq import VpdqFrame

UHD_8K_PIXELS = 7680 * 4320


@dataclass(frozen=True, slots=True)
class VideoLimits:
    """How a video is sampled, and the budgets that refuse a hostile one."""

    seconds_per_hash: float = 1.0
    """One frame hashed per this many seconds (Meta's default for listing); 0 = every frame."""
    downsample: tuple[int, int] | None = None
    """Hash frames scaled to this (width, height), as Meta's ``-d``; None = native size."""
    max_frame_pixels: int = UHD_8K_PIXELS
    """Larger frames are refused, from the header before decoding (8K UHD)."""
    max_frames: int = 500_000
    """Decoded frames: over 4.5 hours at 30 fps, a bound on decoding time and disk reads."""
    max_hashed_frames: int = 36_000
    """Hashed frames: 10 hours at one per second; the output list is bounded by it."""
    max_seconds: float = 600.0
    """Wall-clock budget (time.monotonic) for opening and decoding one video."""

    def __post_init__(self) -> None:
        if not (self.seconds_per_hash >= 0 and self.seconds_per_hash < float("inf")):
            raise HashingError(f"seconds per hash is >= 0, got {self.seconds_per_hash}")
        if self.downsample is not None and min(self.downsample) < _MIN_SIDE:
            w, h = self.downsample
            raise HashingError(f"downsample to at least {_MIN_SIDE} x {_MIN_SIDE}, got {w} x {h}")


DEFAULT_LIMITS = VideoLimits()


class VideoError(HashingError):
    """A video could not be hashed; the message names the file and the reason."""


_MIN_SIDE = 5
"""Meta's reference refuses to hash frames narrower or shorter than this."""
_HEAD = 1024
"""Bytes ``looks_like_video`` wants: MPEG-TS is recognised by three sync bytes 188 apart."""
_TS_PACKET = 188
_IMAGE_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"mif1", b"avif", b"crx "})
"""``ftyp`` brands of still images (HEIF, AVIF, Canon raw): not videos."""
_QUICKTIME_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
"""Old QuickTime files may start with these atoms instead of ``ftyp``."""
_CODECS = frozenset({
    "h264", "hevc", "mpeg4", "mpeg1video", "mpeg2video", "h263", "flv", "vp8", "vp9",
    "libvpx", "libvpx-vp9", "av1", "libdav1d", "mjpeg", "theora", "msmpeg4", "msmpeg4v2",
    "wmv1", "wmv2", "wmv3", "vc1", "prores",
})  # fmt: skip
"""Decoders FFmpeg may run on an upload: the codecs phones, cameras and sites produce."""
# swscale as Meta's sws_getContext(..., SWS_AREA) computes it: PyAV's newer
# sws_scale_frame needs accurate rounding to give the same RGB (bit for bit on
# the samples; without it, dark frames' hashes drift), and Meta's context uses
# BT.601 whatever the stream's colour tags say.
_SCALING = Interpolation.AREA | Interpolation.ACCURATE_RND


def container_of(head: bytes) -> str | None:
    """The FFmpeg demuxer for a file starting with ``head``, or None if it is no video
    container this hashlist reads."""
    box = head[4:8]
    ts = len(head) > 2 * _TS_PACKET and all(
        head[i] == 0x47 for i in range(0, 3 * _TS_PACKET, _TS_PACKET)
    )
    checks = (
        (box == b"ftyp" and head[8:12] not in _IMAGE_BRANDS, "mov"),  # MP4, MOV, 3GP
        (box in _QUICKTIME_ATOMS and int.from_bytes(head[:4], "big") >= 8, "mov"),
        (head.startswith(b"\x1a\x45\xdf\xa3"), "matroska"),  # EBML: Matroska and WebM
        (head[:4] == b"RIFF" and head[8:12] == b"AVI ", "avi"),
        (head.startswith(b"FLV\x01"), "flv"),
        (head.startswith(b"\x00\x00\x01\xba"), "mpeg"),  # MPEG program stream (VOB, .mpg)
        (ts, "mpegts"),  # sync bytes 188 apart
    )
    return next((demuxer for matches, demuxer in checks if matches), None)


def looks_like_video(head: bytes) -> bool:
    """Whether a file's first bytes (``_HEAD`` of them, or all if shorter) are a video
    container's: MP4/MOV/3GP, Matroska/WebM, AVI, FLV, MPEG-PS or MPEG-TS."""
    return container_of(head) is not None


def hash_video(
    f: BinaryIO, name: str, limits: VideoLimits = DEFAULT_LIMITS
) -> tuple[VpdqFrame, ...]:
    """The vPDQ frames of the video in ``f`` (read from its current position), or
    ``VideoError``. ``f`` must be seekable: MP4's index is often at its end."""
    started = time.monotonic()
    start = f.tell()
    demuxer = container_of(f.read(_HEAD))
    f.seek(start)
    if demuxer is None:
        raise VideoError(f"{name}: not a video container this hashlist reads "
                         "(MP4/MOV/3GP, Matroska/WebM, AVI, FLV, MPEG-PS/TS)")  # fmt: skip
    try:
        # No probing (format given), no other files (no protocols allowed for
        # nested opens, no QuickTime external references), tolerant metadata.
        # FFmpeg decodes a first frame while it reads the header when the header
        # leaves out a parameter (H.264's pixel format): max_pixels makes that
        # decoder, and ours, refuse frames over the budget before allocating them.
        options = {"protocol_whitelist": "none", "enable_drefs": "0",
                   "max_pixels": str(limits.max_frame_pixels)}  # fmt: skip
        with av.open(f, "r", format=demuxer, options=options, metadata_errors="replace") as c:
            return _hash_stream(c, name, limits, started)
    except VideoError:
        raise
    except (av.FFmpegError, OSError, ValueError, RuntimeError, MemoryError, IndexError) as e:
        raise VideoError(f"{name}: cannot decode video: {_reason(e)}") from e


def _hash_stream(
    container: av.container.InputContainer, name: str, limits: VideoLimits, started: float
) -> tuple[VpdqFrame, ...]:
    """Checks what the header declares, then decodes (``_decode``)."""
    if not container.streams.video:
        raise VideoError(f"{name}: cannot decode video: it has no video stream "
                         "(an audio-only or corrupt file?)")  # fmt: skip
    stream = container.streams.video[0]  # Meta's: the first video stream
    codec = stream.codec_context
    if codec.width == 0 or codec.height == 0:  # what FFmpeg leaves when max_pixels refused it
        raise VideoError(f"{name}: its video stream declares no frame size within the budget "
                         f"of {limits.max_frame_pixels:,} pixels (corrupt, or frames too "
                         "large): refused, not decoded")  # fmt: skip
    _check_size(name, codec.width, codec.height, limits)
    if codec.codec.name not in _CODECS:
        raise VideoError(f"{name}: its video codec {codec.codec.name!r} is not one this "
                         "hashlist decodes (H.264, HEVC, VP8/9, AV1, MPEG-1/2/4, ...)")  # fmt: skip
    declared = max(0, stream.frames)  # 0 when the container does not say
    if declared > limits.max_frames:
        raise _too_many(name, declared, limits)
    rate = stream.average_rate or stream.base_rate
    if not rate or rate <= 0:
        raise VideoError(f"{name}: cannot decode video: its stream declares no frame rate")
    codec.thread_count = 1
    codec.options = {"max_pixels": str(limits.max_frame_pixels)}
    out: list[VpdqFrame] = []
    decoded = _decode(container, stream, name=name, limits=limits, started=started,
                      rate=float(rate), declared=declared, out=out)  # fmt: skip
    if decoded == 0:
        raise VideoError(f"{name}: cannot decode video: no frame of it decodes")
    if decoded < declared:
        raise VideoError(f"{name}: truncated video: {decoded:,} of the {declared:,} frames its "
                         "container declares decode; is the file complete?")  # fmt: skip
    return tuple(out)


def _decode(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    *,
    name: str,
    limits: VideoLimits,
    started: float,
    rate: float,
    declared: int,
    out: list[VpdqFrame],
) -> int:
    """Appends the hashed frames to ``out``; returns how many frames decoded."""
    frame_mod = int(limits.seconds_per_hash * rate) or 1
    fps = np.float32(rate)  # Meta divides in float
    width, height = limits.downsample or (stream.codec_context.width, stream.codec_context.height)
    n = 0
    frames = container.decode(stream)
    while True:
        try:
            frame = next(frames, None)
        except av.FFmpegError as e:
            if n < declared:  # FFmpeg says "invalid data": say what that means here
                raise VideoError(f"{name}: truncated or corrupt video: decoding fails after "
                                 f"{n:,} of the {declared:,} frames its container declares "
                                 f"({_reason(e)})") from e  # fmt: skip
            raise
        if frame is None:
            return n
        if n >= limits.max_frames:
            raise _too_many(name, n + 1, limits)
        if time.monotonic() - started > limits.max_seconds:
            raise VideoError(f"{name}: decoding took over the budget of {limits.max_seconds:g} "
                             f"s of wall-clock time (at frame {n:,}): refused")  # fmt: skip
        _check_size(name, frame.width, frame.height, limits)
        if frame.is_corrupt:
            raise VideoError(f"{name}: corrupt video: frame {n:,} does not decode cleanly")
        if n % frame_mod == 0:
            if len(out) >= limits.max_hashed_frames:
                raise VideoError(f"{name}: over {limits.max_hashed_frames:,} frames to hash: "
                                 "hash it with more seconds per hash")  # fmt: skip
            # Converted at the stream's declared size (or downsample), as Meta's
            # one swscale context does, whatever size this frame decodes at.
            rgb = frame.to_ndarray(format="rgb24", width=width, height=height,
                                   interpolation=_SCALING, src_colorspace=Colorspace.ITU601,
                                   threads=1)  # fmt: skip
            pdq, quality = _pdq(rgb)
            out.append(VpdqFrame(n, quality, pdq, float(np.float32(n) / fps)))
        n += 1


def _check_size(name: str, width: int, height: int, limits: VideoLimits) -> None:
    if width < _MIN_SIDE or height < _MIN_SIDE:
        raise VideoError(f"{name}: cannot decode video: its frames are {width} x {height}, "
                         f"under the {_MIN_SIDE} x {_MIN_SIDE} PDQ can hash")  # fmt: skip
    if width * height > limits.max_frame_pixels:
        raise VideoError(f"{name}: {width} x {height} frames are over the budget of "
                         f"{limits.max_frame_pixels:,} pixels: refused, not decoded")  # fmt: skip


def _too_many(name: str, frames: int, limits: VideoLimits) -> VideoError:
    return VideoError(f"{name}: {frames:,} frames or more are over the budget of "
                      f"{limits.max_frames:,} decoded frames: refused")  # fmt: skip


def _pdq(rgb: np.ndarray) -> tuple[str, int]:
    """As ``hashing.pdq_of`` (which imports this module, so it is not imported here)."""
    bits, quality = pdqhash.compute(rgb)
    return np.packbits(bits.astype(np.uint8)).tobytes().hex(), int(quality)


def _reason(e: BaseException) -> str:
    """FFmpeg's message without errno noise: "Invalid data found when processing input"."""
    if isinstance(e, av.FFmpegError) and e.strerror:
        return str(e.strerror)
    return str(e) or type(e).__name__
