"""Hashing on the device: file or image bytes in, signals out, nothing sent.

``hash_file``/``hash_bytes`` return a ``FileHashes``: always ``md5`` and
``sha256`` of the exact bytes (streamed, so a large video costs bounded
memory), and for anything Pillow decodes also ``pdq`` (Meta's reference C++,
via ``pdqhash``) with its quality and ``phash`` (``imagehash``, 64 bits). A
file that is no image but starts like a video container gets ``vpdq``, one PDQ
per sampled frame (``hashlist.video``), and its ``vpdq:`` frame-set signal.

Invariants:
- EXIF orientation is applied before the perceptual hashes, so a photo and
  its rotated-by-metadata twin hash alike.
- Every Pillow mode is reduced to 8-bit RGB the same way on the device and on
  the node (16-bit and float samples are rescaled, not clipped), so both sides
  of a match computed the same function.
- A file that is neither an image nor a video gets the exact hashes and a
  ``note``; an image or video that fails to decode (truncated, corrupt, a
  decompression bomb, over a budget) is a ``HashingError`` naming the file,
  never a partial result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import imagehash
import numpy as np
import pdqhash
from PIL import Image, ImageOps, UnidentifiedImageError

# Defined in errors so that video.py can raise it; re-exported as it always was.
from hashlist.errors import HashingError as HashingError  # noqa: PLC0414
from hashlist.signals import DEFAULT_MAX_PIXELS, PDQ_MIN_QUALITY, SignalText
from hashlist.video import DEFAULT_LIMITS, VideoLimits, hash_video, looks_like_video
from hashlist.vpdq import FRAME_QUALITY, FrameSet, VpdqFrame, distinct_good

_READ_CHUNK = 1 << 20
_DRAFT_SIDE = 1024
_MAX_SIDE = 8 * _DRAFT_SIDE
"""A JPEG is decoded at the smallest DCT scale (1/2, 1/4, 1/8) that keeps at least
this many pixels on each side, and any image is then reduced to sides under twice
this: PDQ and pHash look at 64x64 and 32x32 anyway."""


@dataclass(frozen=True, slots=True)
class FileHashes:
    """What ``hashlist hash`` prints for one file (one JSON line)."""

    name: str
    md5: str
    sha256: str
    pdq: str | None = None
    pdq_quality: int | None = None
    phash: str | None = None
    vpdq: tuple[VpdqFrame, ...] | None = None
    note: str = ""

    @property
    def signals(self) -> tuple[SignalText, ...]:
        """Every signal in canonical ``kind:hex`` form, perceptual first."""
        out = []
        if self.pdq is not None:
            out.append(SignalText(f"pdq:{self.pdq}"))
        if self.phash is not None:
            out.append(SignalText(f"phash:{self.phash}"))
        if self.vpdq and (good := distinct_good(self.vpdq)):
            out.append(FrameSet.sampled(good).signal)
        out += [SignalText(f"md5:{self.md5}"), SignalText(f"sha256:{self.sha256}")]
        return tuple(out)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"file": self.name}
        if self.pdq is not None:
            out |= {"pdq": self.pdq, "pdq_quality": self.pdq_quality, "phash": self.phash}
        if self.vpdq is not None:
            out["vpdq"] = [f.to_json() for f in self.vpdq]
        out |= {"md5": self.md5, "sha256": self.sha256, "signals": list(self.signals)}
        if self.note:
            out["note"] = self.note
        return out


def hash_file(
    path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, video: VideoLimits = DEFAULT_LIMITS
) -> FileHashes:
    try:
        with path.open("rb") as f:
            return _hash_stream(str(path), f, max_pixels, video)
    except OSError as e:
        raise HashingError(f"{path}: cannot read: {e.strerror or e}") from e


def hash_bytes(
    data: bytes,
    name: str = "<bytes>",
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    video: VideoLimits = DEFAULT_LIMITS,
) -> FileHashes:
    return _hash_stream(name, io.BytesIO(data), max_pixels, video)


def _hash_stream(name: str, f: BinaryIO, max_pixels: int, video: VideoLimits) -> FileHashes:
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    for chunk in iter(lambda: f.read(_READ_CHUNK), b""):
        md5.update(chunk)
        sha256.update(chunk)
    f.seek(0)
    exact = FileHashes(name, md5.hexdigest(), sha256.hexdigest())
    try:
        rgb = _open_rgb(f, name, max_pixels)
        pdq, quality = pdq_of(rgb)
        phash = str(imagehash.phash(Image.fromarray(rgb)))
    except HashingError:
        raise
    except UnidentifiedImageError as e:
        f.seek(0)
        head = f.read(1024)
        if _looks_like_image(head):
            raise HashingError(
                f"{name}: corrupt image: it starts like one but cannot be read"
            ) from e
        if looks_like_video(head):
            f.seek(0)
            return _with_video(exact, hash_video(f, name, video))
        return dataclasses.replace(
            exact, note="not an image Pillow can decode: md5 and sha256 only"
        )
    except (OSError, ValueError, SyntaxError, MemoryError, Image.DecompressionBombError) as e:
        raise HashingError(f"{name}: cannot decode image: {e}") from e
    note = "" if quality >= PDQ_MIN_QUALITY else (
        f"pdq quality {quality} is below {PDQ_MIN_QUALITY}: too featureless to near-match by pdq"
    )  # fmt: skip
    return dataclasses.replace(exact, pdq=pdq, pdq_quality=quality, phash=phash, note=note)


def _with_video(exact: FileHashes, frames: tuple[VpdqFrame, ...]) -> FileHashes:
    good = any(f.quality >= FRAME_QUALITY for f in frames)
    note = "" if good else (
        f"no frame has pdq quality {FRAME_QUALITY} or more: too featureless to near-match by vpdq"
    )  # fmt: skip
    return dataclasses.replace(exact, vpdq=frames, note=note)


_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM",
                b"II*\x00", b"MM\x00*")  # fmt: skip


def _looks_like_image(head: bytes) -> bool:
    webp = head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    return webp or head.startswith(_IMAGE_MAGIC)


def pdq_of(rgb: np.ndarray) -> tuple[str, int]:
    """PDQ hex (Meta's bit order: bit 0 is the most significant) and quality."""
    bits, quality = pdqhash.compute(rgb)
    return np.packbits(bits.astype(np.uint8)).tobytes().hex(), int(quality)


def _open_rgb(f: BinaryIO, name: str, max_pixels: int) -> np.ndarray:
    with warnings.catch_warnings():
        # Our own budget, checked below before anything is decoded, is the limit.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(f) as opened:  # reads the header only
            width, height = opened.size
            if opened.format == "JPEG" and min(width, height) >= 2 * _DRAFT_SIDE:
                scale = min(8, min(width, height) // _DRAFT_SIDE)
                opened.draft("RGB", (width // scale, height // scale))  # a reduced DCT decode
            pixels = opened.size[0] * opened.size[1]
            if pixels > max_pixels:
                raise HashingError(
                    f"{name}: an image of {width} x {height} pixels is over this hashlist's "
                    f"budget of {max_pixels:,} pixels: refused rather than decoded"
                )
            opened.load()
            return to_rgb8(ImageOps.exif_transpose(_reduced(opened)))


def _reduced(im: Image.Image) -> Image.Image:
    """``im`` box-averaged by a whole factor: the same on both axes, so that the short
    side stays at ``_DRAFT_SIDE`` or more (PDQ and pHash keep the same of it), and
    more along a side still over ``_MAX_SIDE`` (a 1 x 50,000,000 strip). Hashing a
    decoded 50-megapixel image at full size costs seconds and gigabytes."""
    uniform = max(1, min(im.size) // _DRAFT_SIDE)
    factors = (max(uniform, im.width // _MAX_SIDE), max(uniform, im.height // _MAX_SIDE))
    if factors == (1, 1):
        return im
    if im.mode not in _REDUCIBLE:  # 16-bit, palette, 1-bit: as the hashes will see it
        rgb = Image.fromarray(to_rgb8(im))
        rgb.info = im.info  # EXIF orientation is applied after this
        im = rgb
    return im.reduce(factors)


_REDUCIBLE = frozenset({"L", "LA", "RGB", "RGBA"})


def to_rgb8(im: Image.Image) -> np.ndarray:
    """An (h, w, 3) uint8 array for any Pillow mode, alpha dropped."""
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        return _gray_to_rgb(_rescale(np.asarray(im), im.mode))
    try:
        return np.asarray(im.convert("RGB"))
    except ValueError:
        # Internal modes with no conversion (premultiplied "La"): the first
        # band is the luminance.
        band = im.getchannel(0)
        return _gray_to_rgb(_rescale(np.asarray(band), band.mode))


def _rescale(a: np.ndarray, mode: str) -> np.ndarray:
    x = a.astype(np.float64)
    if mode.startswith("I;16"):
        scaled = x / 257.0
    else:
        top = float(np.nanmax(x)) if x.size else 0.0
        low = float(np.nanmin(x)) if x.size else 0.0
        if mode == "F" and low >= 0.0 and top <= 1.0:
            scaled = x * 255.0  # float images in [0, 1]
        elif low >= 0.0 and top <= 255.0:
            scaled = x
        elif low >= 0.0 and top <= 65535.0:
            scaled = x / 257.0  # 16-bit samples held in a 32-bit mode
        else:
            scaled = (x - low) * (255.0 / (top - low or 1.0))
    return np.clip(np.rint(np.nan_to_num(scaled)), 0, 255).astype(np.uint8)


def _gray_to_rgb(g: np.ndarray) -> np.ndarray:
    return np.repeat(g[:, :, None], 3, axis=2)


def hash_files(
    paths: list[Path], *, max_pixels: int = DEFAULT_MAX_PIXELS, video: VideoLimits = DEFAULT_LIMITS
) -> Iterator[FileHashes | HashingError]:
    """Each file's hashes, or its error; one bad file never stops the rest."""
    for p in paths:
        try:
            yield hash_file(p, max_pixels=max_pixels, video=video)
        except HashingError as e:
            yield e
