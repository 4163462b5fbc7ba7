"""Hashing on the device: 1024x768 JPEGs per second per core, all four signals.

Beside it, in the same run, the floor: Pillow decode + ``pdqhash.compute`` +
``imagehash.phash`` called directly (no EXIF, no mode handling, no md5/sha256).

    python -m bench.bench_hash --images 40 --runs 3
"""

from __future__ import annotations

import argparse
import io

import imagehash
import numpy as np
import pdqhash
from PIL import Image

from bench.common import header, median_seconds, row
from hashlist.hashing import hash_bytes
from hashlist.synthetic import jpeg_bytes, synthetic_image


def direct(data: bytes) -> object:
    with Image.open(io.BytesIO(data)) as im:
        rgb = im.convert("RGB")
        return pdqhash.compute(np.asarray(rgb)), imagehash.phash(rgb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    header(f"hashing {args.images} synthetic 1024x768 JPEGs (quality 90), one core", args.runs)
    images = []
    rng = np.random.default_rng(0)
    for seed in range(args.images):
        im = np.asarray(synthetic_image(seed, (1024, 768)), dtype=np.int16)
        grain = rng.integers(-12, 13, im.shape, dtype=np.int16)  # camera-like noise
        noisy = Image.fromarray(np.clip(im + grain, 0, 255).astype(np.uint8))
        images.append(jpeg_bytes(noisy, 90))
    print(f"# mean file size {sum(map(len, images)) / len(images) / 1024:.0f} KiB")
    floor, _ = median_seconds(lambda: [direct(d) for d in images], args.runs)
    ours, _ = median_seconds(lambda: [hash_bytes(d) for d in images], args.runs)
    row("hashlist hash_bytes (pdq, phash, md5, sha256)", args.images / ours, "images/s")
    row("pdqhash + imagehash called directly (reference)", args.images / floor, "images/s")
    print(f"# overhead over the direct calls: {100 * (ours / floor - 1):.0f} %")


if __name__ == "__main__":
    main()
