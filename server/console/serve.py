"""Starting and stopping the console.

``running_console(config)`` connects to the hub with the operator's certificate,
binds on loopback (port 0 picks one) and serves until the context ends; it
yields the base URL and a fresh one-time login link. ``serve_forever`` wraps it
for the CLI and prints the link (SIGTERM or SIGINT ends it).

Every answer carries a strict Content-Security-Policy (no script at all),
``nosniff``, ``Referrer-Policy: same-origin`` (the login link never leaves in a Referer),
``no-store``, and HSTS under TLS.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from hashlist.client import ClientTLS, HubClient
from hashlist.jsonhttp import JsonServer, browser_headers, server_tls_context, serving_json
from hashlist.serving import stop_on_signal
from hashlist.trustroot import load_trust_root
from server.console.auth import Gate
from server.console.config import ConsoleConfig
from server.console.service import PAGE_CSP, Console, Exporter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunningConsole:
    url: str  # the console's base URL
    login_url: str  # works once


@contextmanager
def running_console(
    config: ConsoleConfig, *, hub: HubClient | None = None, exporter: Exporter | None = None
) -> Iterator[RunningConsole]:
    """Serve the console; ``hub``: an operator client to use instead of one made from
    ``config``; ``exporter``: writes a list's audit bundle (the CLI passes the
    auditor's), or None to offer no export."""
    trust = load_trust_root(config.trust_root)
    with ExitStack() as stack:
        if hub is None:
            tls = ClientTLS(config.hub_ca, config.cert, config.key)
            hub = stack.enter_context(HubClient(config.hub, tls,
                                                timeout=config.hub_timeout_seconds))  # fmt: skip
        context = None
        if config.tls_cert is not None:
            context = server_tls_context(config.tls_cert, config.tls_key, None, "console")
        # same-origin, not no-referrer: under no-referrer a browser sends "Origin: null"
        # with a form, and the Origin check needs the real one. Nothing is cross-origin.
        headers = browser_headers(PAGE_CSP, tls=context is not None, referrer="same-origin")
        holder: list[Console] = []

        def make(address: tuple[str, int]) -> JsonServer:
            server = JsonServer(address, [], context, max_body=64 * 1024, max_connections=64,
                                handshake_timeout=10.0, idle_timeout=30.0,
                                operator="console's operator", headers=headers)  # fmt: skip
            gate = Gate(port=server.server_address[1], session_seconds=config.session_hours
                        * 3600, secure=context is not None)  # fmt: skip
            console = Console(hub, config, trust, gate, exporter=exporter)
            server.routes = tuple(console.routes())
            server.paths_help = "the console's pages are linked from /lists"
            server.render_error = console.render_error
            holder.append(console)
            return server

        _, url = stack.enter_context(serving_json(config.listen, "listen", make))
        gate = holder[0].gate
        log.info("console on %s (hub %s)", url, config.hub)
        yield RunningConsole(url, f"{url}/login?token={gate.new_login_token()}")
    log.info("console stopped")


def serve_forever(config: ConsoleConfig, exporter: Exporter | None = None) -> None:
    done = stop_on_signal()
    with running_console(config, exporter=exporter) as running:
        port = running.url.rsplit(":", 1)[1]
        print(f"hashlist console {running.url} listening on port {port}\n"
              f"open this link to sign in (it works once):\n{running.login_url}",
              flush=True)  # fmt: skip
        done.wait()
