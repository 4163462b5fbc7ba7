"""The console's pages and actions: routes for ``hashlist.jsonhttp``.

Pages are rendered on the server (Jinja2, every value escaped) and carry no
script. Every action is a form POST that goes through ``Gate.check_action``
(session, CSRF token, same origin), calls the hub's operator API exactly as the
CLI does (so the hub records it in its audit trail under the operator's
certificate), then redirects back with the outcome shown once (post, redirect,
get: a reload repeats nothing).

A refusal from the hub is shown as the public message the CLI would print;
details stay in the log.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from hashlist.client import HubClient
from hashlist.errors import HashlistError, InputError
from hashlist.jsonhttp import Request, Response, Route
from hashlist.rpc import public_error
from hashlist.trustroot import TrustRoot
from server.console import views
from server.console.auth import Gate
from server.console.charts import stacked_bars
from server.console.config import ConsoleConfig

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")  # fmt: skip
_HTML = "text/html; charset=utf-8"
_LIST = r"(?P<list_id>[a-z0-9][a-z0-9._-]{0,62})"
Exporter = Callable[[str], bytes]  # list id -> an audit bundle as .tar.gz


def _utc(t: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t)) if t else "not known"


class Console:
    def __init__(
        self, hub: HubClient, config: ConsoleConfig, trust: TrustRoot, gate: Gate, *,
        exporter: Exporter | None = None, clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.hub, self.config, self.trust, self.gate = hub, config, trust, gate
        self.exporter, self.clock = exporter, clock
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"),
                               autoescape=select_autoescape(default=True))  # fmt: skip
        self.env.filters["utc"] = _utc
        self.env.filters["age"] = self._age
        self.css = (HERE / "static" / "style.css").read_bytes()

    def _age(self, t: int | None) -> str:
        if not t:
            return "never"
        s = int(self.clock()) - t
        for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
            if abs(s) >= size:
                return f"{s // size} {unit} ago"
        return f"{max(s, 0)} s ago"

    def routes(self) -> list[Route]:
        page, act = self._page, self._action
        return [
            Route("GET", "/", lambda r: _redirect("/lists"), "/"),
            Route("GET", "/login", self._login, "/login"),
            Route("POST", "/logout", self._logout, "/logout", form_body=True),
            Route(
                "GET",
                "/static/style.css",
                lambda r: Response(200, self.css, "text/css"),
                "/static/style.css",
            ),
            Route("GET", "/lists", page("lists.html", self._lists), "/lists"),
            Route("GET", f"/lists/{_LIST}", page("history.html", self._history), "/lists/L"),
            Route("GET", f"/lists/{_LIST}/bundle.tar.gz", self._bundle, "/lists/L/bundle"),
            Route("GET", "/partners", page("partners.html", self._partners), "/partners"),
            Route("GET", "/cases", page("cases.html", self._cases), "/cases"),
            Route("GET", "/review", page("review.html", self._review), "/review"),
            Route("GET", "/matches", page("matches.html", self._matches), "/matches"),
            Route("GET", "/actions", page("actions.html", self._actions), "/actions"),
            *(
                Route("POST", path, act(path, do), path, form_body=True)
                for path, do in (
                    ("/partners/grant", self._grant),
                    ("/partners/revoke-grant", self._revoke_grant),
                    ("/partners/revoke-certificate", self._revoke_certificate),
                    ("/cases/decide", self._decide),
                    ("/review/retract", self._retract),
                    ("/review/dismiss", self._dismiss),
                )
            ),
        ]

    # --- signing in ---

    def _login(self, request: Request) -> Response:
        self.gate.check_host(request.headers)
        if request.method == "HEAD":  # a link checker must not spend the one-time token
            raise InputError("open the login link in a browser")
        token = parse_qs(request.query).get("token", [""])[0]
        cookie = self.gate.login(token, self.clock())
        log.info("console: signed in with the login link")
        return _redirect("/lists", [("Set-Cookie", cookie)])

    def _logout(self, request: Request) -> Response:
        session = self.gate.session(request.headers, self.clock())
        self.gate.check_action(request.headers, session, _form(request).get("csrf", ""))
        return Response(200, self.env.get_template("signed_out.html").render().encode(), _HTML,
                        (("Set-Cookie", self.gate.logout()),))  # fmt: skip

    # --- pages ---

    def _page(
        self, template: str, gather: Callable[[Request], dict[str, object]]
    ) -> Callable[[Request], Response]:
        def handle(request: Request) -> Response:
            session = self.gate.session(request.headers, self.clock())
            values = gather(request)
            flash, session.flash = session.flash, []
            body = self.env.get_template(template).render(
                csrf=session.csrf, flash=flash, path=request.route, now=int(self.clock()),
                **values,
            )  # fmt: skip
            return Response(200, body.encode(), _HTML)

        return handle

    def _lists(self, _: Request) -> dict[str, object]:
        return {"lists": views.lists(self.hub, self.trust), "trust": self.trust,
                "exports": self.exporter is not None}  # fmt: skip

    def _history(self, request: Request) -> dict[str, object]:
        list_id = request.params["list_id"]
        before = _int(parse_qs(request.query).get("before", ["0"])[0], "before")
        versions = self.hub.history(list_id, before=before, limit=50)
        return {"list_id": list_id, "versions": versions, "exports": self.exporter is not None,
                "older": versions[-1].version if len(versions) == 50 else 0}  # fmt: skip

    def _partners(self, _: Request) -> dict[str, object]:
        now = int(self.clock())
        return {"partners": views.partners(self.hub, self.config, now),
                "list_ids": [s.list_id for s in self.hub.status()]}  # fmt: skip

    def _cases(self, _: Request) -> dict[str, object]:
        days = self.hub.activity(self.config.activity_days)[1]
        return {"cases": views.cases(self.hub, days)}

    def _review(self, _: Request) -> dict[str, object]:
        return {"queues": views.review(self.hub, self.config)}

    def _matches(self, _: Request) -> dict[str, object]:
        rows = self.hub.activity(self.config.activity_days)[0]
        found = views.matches(rows, int(self.clock()), self.config.activity_days)
        # charts.py escapes every name it draws: its SVG is markup, safe to embed.
        charts = {
            list_id: Markup(stacked_bars(f"Matches per day on {list_id}", found.days, series))  # noqa: S704
            for list_id, series in found.per_list.items()
        }
        return {"found": found, "charts": charts, "days": self.config.activity_days}

    def _actions(self, request: Request) -> dict[str, object]:
        before = _int(parse_qs(request.query).get("before", ["0"])[0], "before")
        found = self.hub.actions(before=before, limit=50)
        return {"actions": found, "older": found[-1].id if len(found) == 50 else 0}

    def _bundle(self, request: Request) -> Response:
        self.gate.session(request.headers, self.clock())
        if self.exporter is None:
            raise InputError("audit bundles are not exported by this console")
        list_id = request.params["list_id"]
        body = self.exporter(list_id)
        name = f"{list_id}-audit-bundle.tar.gz"
        return Response(200, body, "application/gzip",
                        (("Content-Disposition", f'attachment; filename="{name}"'),))  # fmt: skip

    # --- actions ---

    def _action(
        self, path: str, do: Callable[[dict[str, str]], str]
    ) -> Callable[[Request], Response]:
        def handle(request: Request) -> Response:
            session = self.gate.session(request.headers, self.clock())
            form = _form(request)
            self.gate.check_action(request.headers, session, form.get("csrf", ""))
            back = "/" + path.split("/")[1]
            try:
                session.flash.append(("done", do(form)))
            except HashlistError as e:
                _, message = public_error(e, f"console {path}")
                session.flash.append(("error", message))
            return _redirect(back)

        return handle

    def _grant(self, f: dict[str, str]) -> str:
        changed = self.hub.grant(f.get("list_id", ""), f.get("partner", "").strip(),
                                 new_partner=f.get("new_partner") == "on",
                                 reason=f.get("reason", ""))  # fmt: skip
        return (f"{f['partner']} may now read {f['list_id']}" if changed
                else f"{f['partner']} could already read {f['list_id']}")  # fmt: skip

    def _revoke_grant(self, f: dict[str, str]) -> str:
        changed = self.hub.grant(f.get("list_id", ""), f.get("partner", ""), granted=False,
                                 reason=f.get("reason", ""))  # fmt: skip
        return (f"{f['partner']} may no longer read {f['list_id']}; its streams end" if changed
                else f"{f['partner']} had no grant on {f['list_id']}")  # fmt: skip

    def _revoke_certificate(self, f: dict[str, str]) -> str:
        serial = f.get("serial", "")
        new = self.hub.revoke_certificate(serial, reason=_required(f))
        return (f"certificate {serial} revoked: its calls are refused and its streams end"
                if new else f"certificate {serial} was revoked already")  # fmt: skip

    def _decide(self, f: dict[str, str]) -> str:
        if f.get("decision") not in ("approve", "reject"):
            raise InputError("a decision is approve or reject")
        approve = f["decision"] == "approve"
        view = self.hub.decide_case(f.get("number", ""), approve, reason=f.get("reason", ""))
        return f"case {view.number} is {view.state.value}" + (
            f" (version {view.version})" if view.version else "")  # fmt: skip

    def _retract(self, f: dict[str, str]) -> str:
        r = self.hub.publish(f.get("list_id", ""), [], [f.get("signal", "")],
                             reason=_required(f))  # fmt: skip
        if not r.removed:
            return f"{f.get('signal', '')[:80]} was not listed on {f.get('list_id')}: nothing done"
        return f"retracted from {f.get('list_id')} in version {r.version}: every node drops it"

    def _dismiss(self, f: dict[str, str]) -> str:
        self.hub.dismiss(f.get("list_id", ""), f.get("signal", ""), reason=f.get("reason", ""))
        return "dismissed: off the queue until a new report or verdict on it"

    def render_error(self, status: int, message: str) -> Response:
        """Any refusal as a page (the sign-in page for 401)."""
        body = self.env.get_template("error.html").render(status=status, message=message)
        return Response(status, body.encode(), _HTML)


def _form(request: Request) -> dict[str, str]:
    try:
        fields = parse_qs(request.body.decode(), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as e:
        raise InputError("the form could not be read") from e
    return {k: v[0] for k, v in fields.items()}


def _required(f: dict[str, str]) -> str:
    if not f.get("reason", "").strip():
        raise InputError("say why: a reason is required for this action")
    return f["reason"]


def _int(text: str, what: str) -> int:
    if not re.fullmatch(r"[0-9]{1,18}", text):
        raise InputError(f"{what} is a whole number")
    return int(text)


def _redirect(to: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(303, b"", _HTML, (("Location", quote(to)), *(headers or [])))
