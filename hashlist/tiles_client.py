"""The tiles client: a list's checkpoint, entry bundles and hash tiles, read over HTTPS.

Reads what the hub's ``tiles_dir`` lays out (``hashlist.tiles``) under a base
URL, from the hub's own web server, a mirror or a CDN:
``<base>/<list>/checkpoint`` and ``<base>/<list>/tile/...``. Nothing here
verifies a signature or a hash: the caller does that exactly as for what the
hub sends (the node's ``Syncer``); this module names, bounds and decodes.

Invariants:

* a list id is validated before it goes into a URL, and tile paths come from
  ``Tile.path`` only, so a URL never leaves ``<base>/<list>/``;
* the checkpoint (rewritten in place) is asked for with ``Cache-Control:
  no-cache``; tiles and bundles (immutable) without, so caches may keep them;
* a bundle decodes to exactly its width in entries and a hash tile to exactly
  its width in hashes, or ``TileError``; a response is never larger than the
  largest a valid one can be (``MAX_CHECKPOINT_BYTES``, ``MAX_BUNDLE_BYTES``,
  ``MAX_TILE_BYTES``).

Failures are the typed errors of ``hashlist.tiles_http``: unavailable,
permission denied (the entry bundles are for granted partners only), not
found, or ``TileError`` (malformed).
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from hashlist.delta import validate_list_id
from hashlist.errors import ConfigError
from hashlist.retry import Backoff
from hashlist.tiles import (
    CHECKPOINT,
    ENTRIES,
    MAX_BUNDLE_BYTES,
    MAX_TILE_BYTES,
    Tile,
    decode_bundle,
    decode_tile,
)
from hashlist.tiles_http import HttpsFetcher, TlsFiles, tls_context

MAX_CHECKPOINT_BYTES = 64 * 1024
"""A signed checkpoint with its cosignatures is well under 1 KiB; a witness-heavy one
stays far under this."""
DEFAULT_BACKOFF = Backoff(base=0.2, cap=5.0, attempts=4)


def check_base_url(url: str) -> str:
    """``url`` without its trailing slash, if it can be the base of a list's tiles: an
    https URL with a host and neither credentials, a query nor a fragment."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(f"tiles_url must be an https:// URL with a host, got {url[:200]!r}: "
                          "the entry bundles carry the lists' hashes")  # fmt: skip
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError("tiles_url takes no credentials, query or fragment (the node "
                          f"authenticates with its certificate), got {url[:200]!r}")  # fmt: skip
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError as e:
        raise ConfigError(f"tiles_url has a bad port: {url[:200]!r}") from e
    return url.rstrip("/")


class TilesClient:
    """Reads one hub's tiles under ``base_url``, presenting ``tls``'s certificate."""

    def __init__(
        self,
        base_url: str,
        tls: TlsFiles,
        *,
        timeout: float = 15.0,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self._http = HttpsFetcher(tls_context(tls), timeout=timeout, backoff=backoff)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TilesClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, list_id: str, path: str) -> str:
        return f"{self.base_url}/{quote(validate_list_id(list_id))}/{path}"

    def checkpoint(self, list_id: str) -> bytes:
        """The list's current signed checkpoint note, as served (unverified)."""
        return self._http.get(
            self.url(list_id, CHECKPOINT), limit=MAX_CHECKPOINT_BYTES, no_cache=True
        )

    def entries(self, list_id: str, tile: Tile) -> list[bytes]:
        """The entries of the bundle ``tile`` (unverified): exactly ``tile.width``."""
        if tile.level != ENTRIES:
            raise ValueError(f"{tile.path} is not an entry bundle")
        data = self._http.get(self.url(list_id, tile.path), limit=MAX_BUNDLE_BYTES)
        return decode_bundle(data, tile)

    def hashes(self, list_id: str, tile: Tile) -> list[bytes]:
        """The hashes of the hash tile ``tile`` (unverified): exactly ``tile.width``."""
        if tile.level == ENTRIES:
            raise ValueError(f"{tile.path} is not a hash tile")
        data = self._http.get(self.url(list_id, tile.path), limit=MAX_TILE_BYTES)
        return decode_tile(data, tile)


__all__ = ["MAX_CHECKPOINT_BYTES", "TilesClient", "TlsFiles", "check_base_url"]
