"""Hostile images cost bounded time and memory, and never stop ``hashlist hash``.

The bombs are real, valid PNGs made here: a 13,000 x 13,000 image that
compresses to a few hundred kilobytes, and a 1 x 170,000,000 strip. Each is
refused before it is decoded; images just under the budget are decoded and
reduced before hashing; a large JPEG is decoded at a reduced scale; both hash
within the tolerance of a full decode.
"""

from __future__ import annotations

import io
import resource
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hashlist.cli import main
from hashlist.hashing import HashingError, hash_bytes, pdq_of, to_rgb8
from hashlist.synthetic import synthetic_image


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_bomb(width: int, height: int) -> bytes:
    """A valid grayscale PNG of ``width`` x ``height`` black pixels, compressed."""
    packer = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte, then the samples
    rows_per_step = max(1, (1 << 22) // len(row))
    parts, left = [], height
    while left:
        n = min(rows_per_step, left)
        parts.append(packer.compress(row * n))
        left -= n
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts))
            + _chunk(b"IEND", b""))  # fmt: skip


@pytest.mark.parametrize(("width", "height"), [(13_000, 13_000), (1, 170_000_000)])
def test_a_decompression_bomb_is_refused_fast_and_small(width: int, height: int) -> None:
    bomb = png_bomb(width, height)
    assert len(bomb) < 1_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(HashingError, match="over this hashlist's budget"):
        hash_bytes(bomb, "bomb.png")
    assert time.monotonic() - started < 5  # not a benchmark: a bound a person would notice
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 200, f"peak memory grew by {grown_mib:.0f} MiB"


@pytest.mark.parametrize(("width", "height"), [(7_071, 7_071), (1, 49_999_999)])
def test_an_image_just_under_the_budget_is_hashed_reduced_fast_and_small(
    width: int, height: int
) -> None:
    bomb = png_bomb(width, height)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    hashed = hash_bytes(bomb, "just-under.png")
    assert time.monotonic() - started < 5
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 1_500, f"peak memory grew by {grown_mib:.0f} MiB"
    assert hashed.pdq is not None
    assert hashed.phash is not None


def test_hashlist_hash_goes_on_to_the_next_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-bomb.png").write_bytes(png_bomb(1, 170_000_000))
    good = tmp_path / "b-photo.png"
    synthetic_image(3).save(good)
    assert main(["hash", str(tmp_path / "a-bomb.png"), str(good)]) == 1
    out, err = capsys.readouterr()
    assert "a-bomb.png: an image of 1 x 170000000 pixels is over" in err
    assert "Traceback" not in err
    assert '"b-photo.png"' in out or "b-photo.png" in out


def test_a_large_jpeg_is_decoded_reduced_within_the_hashes_tolerance() -> None:
    big = synthetic_image(7).resize((4096, 3072), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    big.save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    reduced = hash_bytes(data, "big.jpg")  # decoded at 1/3 -> a 1/2 DCT scale
    with Image.open(io.BytesIO(data)) as full:
        full.load()
        full_pdq, _ = pdq_of(to_rgb8(full))
    assert reduced.pdq is not None
    distance = (int(reduced.pdq, 16) ^ int(full_pdq, 16)).bit_count()
    assert distance <= 16, distance  # Meta's tolerance across decoders


def test_a_large_png_is_hashed_reduced_within_the_hashes_tolerance() -> None:
    big = synthetic_image(7).resize((4096, 3072), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    big.save(buffer, "PNG")
    reduced = hash_bytes(buffer.getvalue(), "big.png")  # box-reduced by 4 and 3
    full_pdq, _ = pdq_of(to_rgb8(big))
    assert reduced.pdq is not None
    distance = (int(reduced.pdq, 16) ^ int(full_pdq, 16)).bit_count()
    assert distance <= 16, distance


def test_a_large_16_bit_image_is_reduced_as_the_hashes_see_it() -> None:
    """16-bit samples are rescaled (not clipped) before the reduction, as at full size."""
    gray = np.asarray(synthetic_image(5).convert("L").resize((2560, 2560)), dtype=np.uint16)
    big = Image.fromarray(gray * 257)  # mode I;16
    buffer = io.BytesIO()
    big.save(buffer, "PNG")
    reduced = hash_bytes(buffer.getvalue(), "deep.png")
    full_pdq, _ = pdq_of(to_rgb8(big))
    assert reduced.pdq is not None
    assert (int(reduced.pdq, 16) ^ int(full_pdq, 16)).bit_count() <= 16


def test_the_budget_is_a_setting() -> None:
    small = io.BytesIO()
    synthetic_image(1).save(small, "PNG")
    width, height = synthetic_image(1).size
    with pytest.raises(HashingError, match="over this hashlist's budget of 100 pixels"):
        hash_bytes(small.getvalue(), "x.png", max_pixels=100)
    assert hash_bytes(small.getvalue(), "x.png", max_pixels=width * height).pdq
