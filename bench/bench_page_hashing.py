"""The victim's page: MB/s of its MD5 + SHA-256 (a Web Worker in headless chromium).

Beside it, in the same run, Python's hashlib (OpenSSL) over the same file, one
pass computing both, as ``hashlist hash`` does. The page is served as the
browser tests serve it; the file is random bytes (no image decoding).

    python -m bench.bench_page_hashing --mb 200 --runs 3
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

from bench.common import header, median_seconds, row
from hashlist.jsonhttp import JsonServer, serving_json
from server.intake.serve import page_routes

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; Playwright's own download does not work here
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _python(path: Path) -> None:
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(4 << 20), b""):
            md5.update(chunk)
            sha256.update(chunk)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    header(f"MD5 + SHA-256 of a {args.mb} MB file: the page vs hashlib", args.runs)

    def make(address: tuple[str, int]) -> JsonServer:  # the page as the intake serves it
        return JsonServer(address, page_routes(), None, max_body=1024, max_connections=64,
                          handshake_timeout=5.0, idle_timeout=30.0)  # fmt: skip

    with (
        tempfile.TemporaryDirectory() as tmp,
        serving_json("127.0.0.1:0", "bench", make) as (_, base),
    ):
        url = f"{base}/"
        path = Path(tmp) / "random.bin"
        with path.open("wb") as f:
            for _ in range(args.mb):
                f.write(os.urandom(1 << 20))
        driver = sync_playwright().start()
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            seconds = []
            for _ in range(args.runs):
                page = browser.new_page()
                page.goto(url)
                page.wait_for_selector("body[data-ready]")
                start = time.perf_counter()
                page.set_input_files("#file-input", str(path))
                page.wait_for_selector("[data-signals]", timeout=600_000)
                seconds.append(time.perf_counter() - start)
                page.close()
            seconds.sort()
            page_s = seconds[len(seconds) // 2]
        finally:
            browser.close()
            driver.stop()
        python_s, _ = median_seconds(lambda: _python(path), args.runs)
    row("the page (JavaScript, Web Worker, chromium)", args.mb / page_s, "MB/s")
    row("Python hashlib (OpenSSL), md5 + sha256 in one pass", args.mb / python_s, "MB/s")


if __name__ == "__main__":
    main()
