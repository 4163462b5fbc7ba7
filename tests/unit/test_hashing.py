"""Hashing on the device: Meta's PDQ vectors, every Pillow mode, EXIF, bad files, the CLI."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hashlist.cli import main
from hashlist.hashing import HashingError, hash_bytes, hash_file, pdq_of, to_rgb8
from hashlist.signal_file import read_signals
from hashlist.synthetic import edited_copy, jpeg_bytes, synthetic_image

# Meta's own tests accept this much difference across image decoders.
PDQ_DECODER_TOLERANCE = 16


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def test_pdq_matches_meta_reference_vectors(vectors: Path) -> None:
    rows = list(csv.DictReader((vectors / "pdq" / "expected.csv").open()))
    assert len(rows) >= 10
    for row in rows:
        h = hash_file(vectors / "pdq" / row["path"])
        assert h.pdq is not None
        assert hamming(h.pdq, row["pdq_hex"]) <= PDQ_DECODER_TOLERANCE, row["path"]


def test_small_reference_image_reports_low_quality(vectors: Path) -> None:
    h = hash_file(vectors / "pdq" / "misc-images" / "small.jpg")
    assert h.pdq_quality is not None
    assert h.pdq_quality < 50
    assert "quality" in h.note


def test_exact_hashes_are_of_the_bytes() -> None:
    data = jpeg_bytes(synthetic_image(1))
    h = hash_bytes(data)
    import hashlib

    assert h.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert h.sha256 == hashlib.sha256(data).hexdigest()
    assert h.signals[0] == f"pdq:{h.pdq}"
    assert len(h.signals) == 4


def _pdq(im: Image.Image) -> str:
    """PDQ of an in-memory image of any mode, through the same reduction files get."""
    return pdq_of(to_rgb8(im))[0]


@pytest.mark.parametrize(
    "mode", ["1", "L", "P", "RGB", "RGBA", "LA", "PA", "CMYK", "I", "F", "I;16"]
)
def test_every_mode_hashes_like_its_rgb_original(mode: str) -> None:
    base = synthetic_image(7, (256, 192))
    gray = base.convert("L")
    if mode == "I;16":
        im = Image.fromarray(np.asarray(gray).astype(np.uint16) * 257)
    elif mode == "F":
        im = Image.fromarray(np.asarray(gray).astype(np.float32) / 255.0)
    elif mode == "PA":
        im = base.convert("P").convert("PA")
    else:
        im = base.convert(mode)
    reference = _pdq(gray if mode in ("L", "LA", "I", "F", "I;16", "1") else base)
    # Same picture, other sample format: a near match, far inside the radius.
    limit = 40 if mode == "1" else 16  # 1-bit dithering changes real structure
    assert hamming(_pdq(im), reference) <= limit, mode
    if mode in ("I;16", "F", "CMYK", "RGBA", "P"):  # and through a file, where one exists
        out = io.BytesIO()
        im.save(out, format="TIFF")
        h = hash_bytes(out.getvalue(), mode)
        assert h.pdq is not None
        assert hamming(h.pdq, reference) <= limit, mode


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    upright = synthetic_image(3, (320, 240))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # pixels as a camera stores them
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = io.BytesIO()
    stored.save(out, format="JPEG", exif=exif, quality=95)
    with_exif = hash_bytes(out.getvalue())
    plain = hash_bytes(jpeg_bytes(upright, 95))
    assert with_exif.pdq is not None
    assert plain.pdq is not None
    assert hamming(with_exif.pdq, plain.pdq) <= 16
    ignored = hash_bytes(jpeg_bytes(stored, 95))
    assert ignored.pdq is not None
    assert hamming(ignored.pdq, plain.pdq) > 31  # so the test would notice


def test_edited_copy_is_a_near_match() -> None:
    im = synthetic_image(11)
    a, b = hash_bytes(jpeg_bytes(im)), hash_bytes(edited_copy(im))
    assert a.pdq is not None
    assert b.pdq is not None
    assert 0 < hamming(a.pdq, b.pdq) <= 31
    assert a.sha256 != b.sha256


def test_non_image_gets_exact_hashes_and_a_note(tmp_path: Path) -> None:
    # Neither an image nor a video (a file that starts like an MP4 but is not one
    # is a corrupt video, an error: tests/unit/test_video.py).
    other = tmp_path / "archive.bin"
    other.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 100)
    h = hash_file(other)
    assert h.pdq is None
    assert h.phash is None
    assert [s.split(":")[0] for s in h.signals] == ["md5", "sha256"]
    assert "not an image" in h.note


def test_truncated_image_is_an_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(jpeg_bytes(synthetic_image(2))[:2000])
    with pytest.raises(HashingError, match=r"broken\.jpg"):
        hash_file(bad)


def test_cli_hashes_the_rest_after_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.jpg"
    good.write_bytes(jpeg_bytes(synthetic_image(4)))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    assert main(["hash", str(good), str(bad), str(other)]) == 1
    out, err = capsys.readouterr()
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["file"] for x in lines] == [str(good), str(other)]
    assert lines[0]["pdq_quality"] == 100
    assert "bad.png" in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    # The output feeds `hashlist hub publish --add-file` as it is.
    listing = tmp_path / "hashes.jsonl"
    listing.write_text(out)
    assert read_signals(listing) == lines[0]["signals"] + lines[1]["signals"]
