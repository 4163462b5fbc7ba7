"""Browser tier: the victim's page in Debian's headless chromium, driven by Playwright.

One browser for the session; a fresh context (no cookies, no cache) and page
per test. The page is served as the intake would serve it (``page_files`` with
the header form of the policy) by ``http.server`` on 127.0.0.1, port 0. The API
(``/v1/...``) is not served here: tests answer it with ``page.route``.

Without chromium, Playwright or axe-core the tests skip with a reason, except
under ``CI=true`` where a missing tool is a failure: CI must run them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from server.intake.static import page_csp, page_files

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Request

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parents[2] / ".venv/npm/node_modules/axe-core/axe.min.js"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-quic", "--no-first-run", "--disable-component-update",
               "--disable-sync"]  # fmt: skip


def require(ok: bool, reason: str) -> None:
    """Skip without the tool, but fail under CI, which must run these tests."""
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the browser tests")
    pytest.skip(reason)


def _playwright_missing() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return True
    return False


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    require(CHROMIUM.exists(), f"chromium not found at {CHROMIUM} (make tools)")
    require(not _playwright_missing(), "playwright is not installed (pip install -e '.[test]')")
    from playwright.sync_api import sync_playwright

    driver = sync_playwright().start()
    try:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()
    finally:
        driver.stop()


@pytest.fixture(scope="session")
def axe_source() -> str:
    require(AXE.exists(), f"axe-core not found at {AXE} (make tools)")
    return AXE.read_text()


class _PageHandler(BaseHTTPRequestHandler):
    files: ClassVar[dict[str, tuple[bytes, str]]] = {}
    policy: ClassVar[str] = ""

    def do_GET(self) -> None:
        found = self.files.get(self.path.split("?", 1)[0])
        if found is None:
            self.send_error(404)
            return
        data, content_type = found
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Security-Policy", self.policy)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest shows failures, not every request


@pytest.fixture(scope="session")
def page_url() -> Iterator[str]:
    """The page's origin + "/", served with the header policy as the intake serves it."""
    handler = type("Handler", (_PageHandler,), {"files": page_files(), "policy": page_csp()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Recorded:
    """Everything a page did on the wire and the console, for the privacy tests."""

    requests: list[Request] = field(default_factory=list)
    console: list[ConsoleMessage] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class HashingPage:
    """The page open in a fresh context, with helpers to drive it."""

    page: Page
    context: BrowserContext
    url: str
    recorded: Recorded

    def choose(self, paths: list[Path]) -> None:
        self.page.set_input_files("#file-input", [str(p) for p in paths])

    def results(self, names: list[str], timeout_s: float = 60) -> dict[str, dict[str, str]]:
        """Wait until every named file has data-signals or data-error; their attributes."""
        script = """(names) => names.every(n => {
            const el = [...document.querySelectorAll('[data-file]')]
                .find(e => e.getAttribute('data-file') === n);
            return el && (el.hasAttribute('data-signals') || el.hasAttribute('data-error'));
        })"""
        self.page.wait_for_function(script, arg=names, timeout=timeout_s * 1000)
        out: dict[str, dict[str, str]] = self.page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll('[data-file]')].map(e =>
                [e.getAttribute('data-file'), Object.fromEntries(
                    [...e.attributes].map(a => [a.name, a.value]))]))"""
        )
        return {n: out[n] for n in names}

    def hash_files(self, paths: list[Path], timeout_s: float = 60) -> dict[str, dict[str, str]]:
        self.choose(paths)
        return self.results([p.name for p in paths], timeout_s)


class PageOpener:
    """Opens the page in fresh contexts (``browser.new_context`` options passed on),
    recording each one's requests and console; closes them all at teardown."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.browser, self.url = browser, url
        self.contexts: list[BrowserContext] = []

    def __call__(self, **context_options: Any) -> HashingPage:
        context = self.browser.new_context(**context_options)
        self.contexts.append(context)
        page = context.new_page()
        recorded = Recorded()
        # Playwright tags its handlers with an attribute: a bound builtin such as
        # list.append cannot take one, hence the lambdas.
        page.on("request", lambda r: recorded.requests.append(r))  # noqa: PLW0108
        page.on("console", lambda m: recorded.console.append(m))  # noqa: PLW0108
        page.on("pageerror", lambda e: recorded.errors.append(str(e)))
        page.goto(self.url)
        page.wait_for_selector("body[data-ready]")  # texts.json loaded, controls wired
        return HashingPage(page, context, self.url, recorded)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def open_page(browser: Browser, page_url: str) -> Iterator[PageOpener]:
    opener = PageOpener(browser, page_url)
    try:
        yield opener
    finally:
        opener.close()


@pytest.fixture
def hashing_page(open_page: PageOpener) -> HashingPage:
    return open_page()


def signals_of(attributes: dict[str, str]) -> dict[str, str]:
    """``data-signals`` as {kind: hex}."""
    pairs = (s.partition(":") for s in attributes["data-signals"].split())
    return {kind: hex_ for kind, _, hex_ in pairs}


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def chromium_rss() -> int:
    """Bytes resident in every chromium process this test run started (the browser,
    its renderers and GPU/utility helpers are all descendants of Playwright's driver,
    our child)."""
    import psutil  # type: ignore[import-untyped]

    total = 0
    for proc in psutil.Process().children(recursive=True):
        try:
            if "chrom" in proc.name():
                total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


class RssSampler:
    """Samples ``chromium_rss`` every 100 ms in a thread; ``peak`` is the highest seen."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, chromium_rss())
            time.sleep(0.1)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
