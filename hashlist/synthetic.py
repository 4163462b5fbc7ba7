"""Synthetic test images (smooth noise, shapes, text) for the demo, tests and benchmarks.

Never real imagery: every picture here is drawn from a seed, so the demo and
the tests can show a listed image being re-encoded and resized and still
matching, without any photograph anywhere.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def synthetic_image(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    # Low-frequency noise gives PDQ and pHash structure to work with.
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    im = Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
        x1, y1 = x0 + int(rng.integers(20, w // 2)), y0 + int(rng.integers(20, h // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    draw.text((w // 10, h // 2), f"synthetic #{seed}", fill=(255, 255, 255))
    return im.filter(ImageFilter.GaussianBlur(1))


def jpeg_bytes(im: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    im.convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def edited_copy(im: Image.Image) -> bytes:
    """What a re-upload looks like: resized to 60 %, re-encoded as a lower-quality JPEG."""
    w, h = im.size
    return jpeg_bytes(im.resize((w * 3 // 5, h * 3 // 5), Image.Resampling.LANCZOS), quality=70)
