"""Who may use the console: the holder of the one-time login link, then its session.

Why a login link on loopback rather than operator client certificates in the
browser: the console already holds the operator's key (it calls the hub as the
operator), so it belongs on the operator's own machine, and loopback keeps it
off every network; a non-engineer opens a link, where installing a client
certificate in a browser is a support call; and a client certificate would
only prove the browser to a console that could not tell two operators apart
anyway (the hub records the certificate's name). Reaching it from elsewhere is
``ssh -L``.

Invariants:

* The login token is 256 random bits, printed once, compared in constant time,
  and spent by its first use: a second use, or a copy from the browser's
  history, opens nothing.
* One session at a time: the cookie holds 256 random bits, the console keeps
  only their SHA-256; it is ``HttpOnly``, ``SameSite=Strict``, ``Path=/``, and
  ``Secure`` when the console serves HTTPS; it expires after ``session_seconds``.
* Every request names this console in ``Host`` (loopback and its port): a DNS
  rebinding page on another name gets nothing.
* Every action (a POST) carries the session's CSRF token in its form, compared
  in constant time, and a cross-site ``Origin`` or ``Sec-Fetch-Site`` is refused:
  three defences, each enough alone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from email.message import Message
from http.cookies import CookieError, SimpleCookie

from hashlist.errors import PermissionDeniedError, UnauthenticatedError

COOKIE = "hashlist_console"


@dataclass
class Session:
    csrf: str
    expires: float
    flash: list[tuple[str, str]] = field(default_factory=list)  # (kind, text), shown once


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


class Gate:
    def __init__(self, *, port: int, session_seconds: float, secure: bool) -> None:
        self.port, self.session_seconds, self.secure = port, session_seconds, secure
        self._token: bytes | None = None
        self._session: tuple[bytes, Session] | None = None
        self._lock = threading.Lock()

    def new_login_token(self) -> str:
        """A fresh one-time token (the previous one, if unspent, no longer works)."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._token = _digest(token)
        return token

    def login(self, token: str, now: float) -> str:
        """Spend the login token; returns the ``Set-Cookie`` value of the new session
        (any earlier session ends)."""
        with self._lock:
            if self._token is None or not hmac.compare_digest(self._token, _digest(token)):
                raise UnauthenticatedError("this login link is not valid (it works once): "
                                           "restart the console for a new one")  # fmt: skip
            self._token = None
            session_id = secrets.token_urlsafe(32)
            self._session = (_digest(session_id), Session(secrets.token_urlsafe(32),
                                                          now + self.session_seconds))  # fmt: skip
        flags = "; Secure" if self.secure else ""
        return (f"{COOKIE}={session_id}; HttpOnly; SameSite=Strict; Path=/; "
                f"Max-Age={int(self.session_seconds)}{flags}")  # fmt: skip

    def logout(self) -> str:
        with self._lock:
            self._session = None
        return f"{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"

    def session(self, headers: Message, now: float) -> Session:
        """The session the request's cookie names; ``UnauthenticatedError`` if none."""
        self.check_host(headers)
        try:
            cookie = SimpleCookie(headers.get("Cookie", ""))
        except CookieError:
            cookie = SimpleCookie()
        morsel = cookie.get(COOKIE)
        with self._lock:
            current = self._session
            if (
                morsel is None
                or current is None
                or not hmac.compare_digest(current[0], _digest(morsel.value))
            ):
                raise UnauthenticatedError("sign in with the login link the console printed")
            if current[1].expires <= now:
                self._session = None
                raise UnauthenticatedError("the session ended: restart the console to sign in")
            return current[1]

    def check_host(self, headers: Message) -> None:
        allowed = {f"{h}:{self.port}" for h in ("127.0.0.1", "localhost", "[::1]")}
        if headers.get("Host", "") not in allowed:
            raise PermissionDeniedError("address this console as 127.0.0.1 or localhost")

    def check_action(self, headers: Message, session: Session, csrf: str) -> None:
        """A POST from this console's own pages, in this session."""
        site = headers.get("Sec-Fetch-Site", "same-origin")
        origin = headers.get("Origin", "")
        scheme = "https" if self.secure else "http"
        if site not in ("same-origin", "none") or (
            origin and origin != f"{scheme}://{headers.get('Host', '')}"
        ):
            raise PermissionDeniedError("an action from another site is refused")
        if not hmac.compare_digest(session.csrf.encode(), csrf.encode()):
            raise PermissionDeniedError("this form is out of date: reload the page and retry")
