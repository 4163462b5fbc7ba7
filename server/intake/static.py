"""The victim's hashing page as files: what the intake serves and ``write_page`` writes.

The page (``server/intake/page/``, package data) hashes files on the person's
device (MD5, SHA-256 and PDQ in a Web Worker) and sends only the hashes, to
``{api}/v1/cases``. This module renders it for one deployment: the intake
API's origin and the Content-Security-Policy go into ``index.html``.

Invariants:

* ``api_base`` is either ``""`` (the API is on the page's own origin) or a
  bare ``https://host[:port]`` origin; anything else (a path, a query, other
  schemes, quotes or spaces that could break out of the HTML attribute or the
  policy) is an ``InputError``, never written.
* ``index.html`` always carries the policy in a ``<meta http-equiv>``, so a
  copy served by a CDN that sets no header is still locked down; the header
  form (``page_csp``) adds ``frame-ancestors``, which browsers ignore in a
  ``<meta>``. The API origin is the only addition to ``connect-src``.
* Pure apart from ``write_page``: the files come from the installed package,
  the same bytes every call.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from hashlist.errors import InputError

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self'; "
    "img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
"""The page's policy as an HTTP header: only its own scripts, styles and worker,
requests only to its own origin (and the API's, see ``page_csp``), no framing."""

PAGE_FILES: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "worker.js": "text/javascript; charset=utf-8",
    "digests.js": "text/javascript; charset=utf-8",
    "pdq.js": "text/javascript; charset=utf-8",
    "texts.json": "application/json; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
"""Every file of the page and its content type; nothing else is served."""

_ORIGIN = re.compile(
    r"https://(?P<host>[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?/?",
)
_CSP_PLACEHOLDER = "__HASHLIST_CSP__"
_API_PLACEHOLDER = "__HASHLIST_API__"


def api_origin(api_base: str) -> str:
    """``api_base`` as a normalised origin (lower case, no trailing slash), or ``""``."""
    if api_base == "":
        return ""
    candidate = api_base.lower()
    match = _ORIGIN.fullmatch(candidate)
    port = match.group("port") if match else None
    if match is None or (port is not None and not 0 < int(port) < 65536):
        raise InputError(
            f"api base {api_base!r} is not an https origin: expected https://host or "
            "https://host:port, with no path, query, credentials or quotes"
        )
    return candidate.rstrip("/")


def page_csp(api_base: str = "", *, meta: bool = False) -> str:
    """The policy for a deployment whose API is at ``api_base``; ``meta=True`` for
    the ``<meta>`` form (without ``frame-ancestors``, which a ``<meta>`` cannot set
    and for which Chromium logs a console error)."""
    origin = api_origin(api_base)
    policy = PAGE_CSP
    if origin:
        policy = policy.replace("connect-src 'self'", f"connect-src 'self' {origin}")
    if meta:
        policy = "; ".join(d for d in policy.split("; ") if not d.startswith("frame-ancestors"))
    return policy


def _read(name: str) -> bytes:
    return resources.files("server.intake").joinpath("page", name).read_bytes()


def page_files(api_base: str = "") -> dict[str, tuple[bytes, str]]:
    """Request path (``/`` for the page itself, ``/app.js``, ...) to (bytes, content type)."""
    origin = api_origin(api_base)
    out: dict[str, tuple[bytes, str]] = {}
    for name, content_type in PAGE_FILES.items():
        data = _read(name)
        if name == "index.html":
            # Both values are validated above: an origin and our own policy text,
            # neither can hold a quote, '<' or '&', so no HTML escaping is needed.
            html = data.decode("utf-8")
            html = html.replace(_CSP_PLACEHOLDER, page_csp(origin, meta=True))
            html = html.replace(_API_PLACEHOLDER, origin)
            data = html.encode("utf-8")
            out["/"] = (data, content_type)
        out[f"/{name}"] = (data, content_type)
    return out


def write_page(out: Path, api_base: str = "") -> list[Path]:
    """Write the page's files into ``out`` (created if missing); return their paths."""
    files = page_files(api_base)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path, (data, _) in files.items():
        if path == "/":
            continue  # the same bytes as /index.html
        target = out / path.lstrip("/")
        target.write_bytes(data)
        written.append(target)
    return written
