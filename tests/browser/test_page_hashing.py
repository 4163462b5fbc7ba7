"""The page hashes like ``hashlist hash``: in real chromium, on the device.

MD5 and SHA-256 must be exact. PDQ is written independently in JavaScript, so
it must be within 16 bits (Hamming) of Meta's reference hashes for the
conformance images (``../shared/vectors/pdq/expected.csv``) and of
``hashlist.hashing.hash_file`` for every other image we have, its quality
close. A 200 MB file is hashed exactly with the browser's memory growing by
far less than the file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hashlist.hashing import HashingError, hash_file
from hashlist.synthetic import synthetic_image
from tests.browser.conftest import HashingPage, RssSampler, chromium_rss, hamming, signals_of

PDQ_TOLERANCE = 16
QUALITY_TOLERANCE = 5
_LAST_ROW_AND_COLUMN = (0xFFFF << 240) | sum(1 << (16 * i + 15) for i in range(16))
"""PDQ bits of DCT row 15 (word 15) and column 15 (bit 15 of each word)."""
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")


def _exact(path: Path) -> dict[str, str]:
    data = path.read_bytes()
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    return {"md5": md5, "sha256": hashlib.sha256(data).hexdigest()}


def test_reference_images_are_within_16_bits_of_metas_hashes(
    hashing_page: HashingPage, vectors: Path
) -> None:
    folder = vectors / "pdq"
    with (folder / "expected.csv").open() as f:
        expected = {folder / row["path"]: row["pdq_hex"] for row in csv.DictReader(f)}
    assert len({p.name for p in expected}) == len(expected), "the page lists files by name"
    results = hashing_page.hash_files(list(expected))
    distances = {}
    for path, want in expected.items():
        got = signals_of(results[path.name])
        assert {"md5": got["md5"], "sha256": got["sha256"]} == _exact(path), path
        assert "pdq" in got, f"{path}: the page could not decode it"
        distances[path.name] = hamming(got["pdq"], want)
    print(f"\nPDQ vs Meta's expected: {len(distances)} images, max distance "
          f"{max(distances.values())}, {distances}")  # fmt: skip
    assert max(distances.values()) <= PDQ_TOLERANCE, distances


def test_every_reference_image_hashes_as_hashlist_hash_does(
    hashing_page: HashingPage, vectors: Path
) -> None:
    """All the images under vectors/pdq, expected hashes or not (EXIF rotations,
    dihedral transforms, every Pillow mode): as the Python side hashes them."""
    paths = sorted(p for p in (vectors / "pdq").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    assert len({p.name for p in paths}) == len(paths), "the page lists files by name"
    results = hashing_page.hash_files(paths)
    distances = {}
    for path in paths:
        python, got = hash_file(path), signals_of(results[path.name])
        assert (got["md5"], got["sha256"]) == (python.md5, python.sha256), path
        assert python.pdq is not None
        assert python.pdq_quality is not None
        assert "pdq" in got, f"{path}: Pillow decodes it, the page did not"
        distances[path.name] = hamming(got["pdq"], python.pdq)
        quality = int(results[path.name]["data-pdq-quality"])
        assert abs(quality - python.pdq_quality) <= QUALITY_TOLERANCE, path
    print(f"\nPDQ vs hashlist hash: {len(distances)} images, max distance "
          f"{max(distances.values())}")  # fmt: skip
    assert max(distances.values()) <= PDQ_TOLERANCE, distances


def _noisy(size: tuple[int, int], seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = np.asarray(synthetic_image(seed, size), dtype=np.int16)
    grain = rng.integers(-12, 13, base.shape, dtype=np.int16)
    return Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8))


def _synthetic_images(folder: Path) -> list[Path]:
    out: dict[str, Image.Image | bytes] = {}
    rgba = np.asarray(synthetic_image(2, (500, 400)).convert("RGBA")).copy()
    rgba[..., 3] = np.linspace(40, 255, 500, dtype=np.uint8)[None, :]  # graded transparency
    out["alpha.png"] = Image.fromarray(rgba, "RGBA")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    buf = io.BytesIO()
    _noisy((640, 480), 3).save(buf, format="JPEG", quality=92, exif=exif)
    out["exif-rotated.jpg"] = buf.getvalue()
    gray16 = np.asarray(synthetic_image(4, (400, 300)).convert("L"), dtype=np.uint16) * 257
    out["sixteen-bit.png"] = Image.fromarray(gray16.astype(np.uint16))  # mode I;16
    out["large.jpg"] = _noisy((3000, 2000), 5)
    for name, shape in (("tiny.png", (9, 12, 3)), ("eight.png", (8, 8, 3))):
        out[name] = Image.fromarray(np.random.default_rng(6).integers(0, 256, shape, np.uint8))
    ramp = np.tile(np.linspace(120, 124, 256), (256, 1)).astype(np.uint8)
    out["featureless.png"] = Image.fromarray(ramp, "L")
    paths = []
    for name, image in out.items():
        path = folder / name
        if isinstance(image, bytes):
            path.write_bytes(image)
        else:
            image.save(path, quality=90) if name.endswith(".jpg") else image.save(path)
        paths.append(path)
    return paths


def test_synthetic_images_hash_as_hashlist_hash_does(
    hashing_page: HashingPage, tmp_path: Path
) -> None:
    paths = _synthetic_images(tmp_path)
    results = hashing_page.hash_files(paths)
    for path in paths:
        python, attributes = hash_file(path), results[path.name]
        got = signals_of(attributes)
        assert (got["md5"], got["sha256"]) == (python.md5, python.sha256), path
        assert python.pdq is not None
        assert python.pdq_quality is not None
        # Sides dividing 64 (an 8x8) are replicated exactly by the decimation: the
        # last row and column of DCT coefficients are zero but for rounding
        # noise, in the reference too, so their bits are noise; the rest must agree.
        noise = _LAST_ROW_AND_COLUMN if path.name == "eight.png" else 0
        if path.name == "featureless.png":
            noise = (1 << 256) - 1  # all noise: why quality < 50 keeps a PDQ from being sent
        distance = hamming(f"{int(got['pdq'], 16) & ~noise:x}", f"{int(python.pdq, 16) & ~noise:x}")
        assert distance <= PDQ_TOLERANCE, (path.name, got["pdq"], python.pdq)
        quality = int(attributes["data-pdq-quality"])
        assert abs(quality - python.pdq_quality) <= QUALITY_TOLERANCE, path.name
    assert int(results["featureless.png"]["data-pdq-quality"]) < 50
    assert (hash_file(tmp_path / "featureless.png").pdq_quality or 0) < 50
    # The review says the featureless picture's PDQ is left out, and does not list it.
    featureless_pdq = signals_of(results["featureless.png"])["pdq"]
    review = hashing_page.page.locator("#review-list").inner_text()
    assert featureless_pdq not in review
    assert signals_of(results["large.jpg"])["pdq"] in review
    assert "featureless.png" in hashing_page.page.locator("#review-notes").inner_text()


def test_a_file_that_is_not_an_image_gets_md5_and_sha256_only(
    hashing_page: HashingPage, tmp_path: Path
) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x20ftypisom" + os.urandom(100_000))
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(5_000))
    results = hashing_page.hash_files([video, corrupt])
    for path in (video, corrupt):
        assert signals_of(results[path.name]) == _exact(path)
        assert "data-pdq-quality" not in results[path.name]


def test_an_image_over_the_pixel_budget_is_not_decoded(
    hashing_page: HashingPage, tmp_path: Path
) -> None:
    huge = tmp_path / "huge.png"
    Image.new("1", (10_000, 6_000)).save(huge)  # 60 megapixels, a few kilobytes
    with pytest.raises(HashingError, match="budget"):
        hash_file(huge)
    results = hashing_page.hash_files([huge])
    assert signals_of(results["huge.png"]) == _exact(huge)
    text = hashing_page.page.locator('[data-file="huge.png"]').inner_text()
    assert "10000 \u00d7 6000" in text


def test_a_200_mb_file_is_hashed_exactly_in_bounded_memory(
    hashing_page: HashingPage, tmp_path: Path
) -> None:
    size = 200 * 1024 * 1024
    big = tmp_path / "video.bin"
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with big.open("wb") as f:
        for _ in range(size // (8 << 20)):
            chunk = os.urandom(8 << 20)
            md5.update(chunk)
            sha256.update(chunk)
            f.write(chunk)
    baseline = chromium_rss()
    with RssSampler() as sampler:
        started = time.perf_counter()
        results = hashing_page.hash_files([big], timeout_s=120)
        seconds = time.perf_counter() - started
    growth = sampler.peak - baseline
    print(f"\n200 MB in the page: {size / seconds / 1e6:.0f} MB/s (MD5 + SHA-256), "
          f"chromium RSS growth at peak {growth / 1e6:.0f} MB")  # fmt: skip
    assert signals_of(results[big.name]) == {"md5": md5.hexdigest(), "sha256": sha256.hexdigest()}
    assert growth < 150 * 1024 * 1024, f"chromium grew by {growth / 1e6:.0f} MB"
