"""Starting and stopping the intake: its API, the hashing page, its link to the hub.

``running_intake(config)`` connects to the hub with the intake certificate,
binds (port 0 picks one) and serves until the context ends; it yields the
base URL. ``serve_forever`` wraps it for the CLI (SIGTERM or SIGINT ends it).

Every answer carries ``X-Content-Type-Options: nosniff``, ``Referrer-Policy:
no-referrer`` and a Content-Security-Policy (the page's own for its files,
``default-src 'none'`` for the API), HSTS under TLS, and no cookie ever.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from hashlist.client import ClientTLS, HubClient
from hashlist.jsonhttp import (
    JsonServer,
    Request,
    Response,
    Route,
    browser_headers,
    server_tls_context,
    serving_json,
)
from hashlist.probes import Probes, serving_probes
from hashlist.serving import stop_on_signal
from server.intake.config import IntakeConfig
from server.intake.metrics import IntakeMetrics
from server.intake.openapi import document
from server.intake.service import CaseHub, IntakeApi
from server.intake.static import PAGE_CSP, page_files
from server.ratelimit import TokenBuckets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunningIntake:
    url: str  # the service's base URL
    probes: Probes | None  # where /metrics, /livez and /readyz are served, if anywhere


API_CSP = "default-src 'none'; frame-ancestors 'none'"


def page_routes() -> list[Route]:
    """GET of each file of the hashing page, with the page's Content-Security-Policy."""
    routes = []
    for path, (body, content_type) in page_files().items():
        csp = ("Content-Security-Policy", PAGE_CSP)
        routes.append(Route("GET", re.escape(path), _fixed(Response(200, body, content_type,
                                                                    (csp,))), path))  # fmt: skip
    return routes


def _fixed(answer: Response) -> Callable[[Request], Response]:
    return lambda _: answer


def intake_routes(config: IntakeConfig, hub: CaseHub, metrics: IntakeMetrics) -> list[Route]:
    per_minute = config.requests_per_minute
    api = IntakeApi(
        hub, config.list_id, max_signals=config.max_signals,
        requests=TokenBuckets(rate=per_minute / 60, burst=per_minute,
                              max_keys=config.max_clients),
        opens=TokenBuckets(rate=config.cases_per_hour / 3600, burst=config.cases_per_hour,
                           max_keys=config.max_clients),
        document=lambda: document(config.max_signals), hub_answered=metrics.hub_answered,
    )  # fmt: skip
    return api.routes() + (page_routes() if config.serve_page else [])


@contextmanager
def running_intake(config: IntakeConfig, *, hub: CaseHub | None = None) -> Iterator[RunningIntake]:
    """Serve the intake; yields its base URL and where its probes are. ``hub``: for
    tests, instead of a client of ``config.hub``."""
    with ExitStack() as stack:
        if hub is None:
            tls = ClientTLS(config.hub_ca, config.cert, config.key)
            hub = stack.enter_context(HubClient(config.hub, tls,
                                                timeout=config.hub_timeout_seconds))  # fmt: skip
        context = None
        if config.tls_cert is not None:
            context = server_tls_context(config.tls_cert, config.tls_key, None, "intake")
        metrics = IntakeMetrics()
        routes = intake_routes(config, hub, metrics)
        headers = browser_headers(API_CSP, tls=context is not None)  # the page's files: their own

        def make(address: tuple[str, int]) -> JsonServer:
            return JsonServer(address, routes, context, max_body=config.max_body_bytes,
                              max_connections=config.max_connections, handshake_timeout=10.0,
                              idle_timeout=30.0, operator="service's operator",
                              headers=headers, observe=metrics.observe)  # fmt: skip

        _, url = stack.enter_context(serving_json(config.listen, "listen", make))
        probes = stack.enter_context(
            serving_probes(config.metrics_listen, metrics.registry, metrics.readiness)
        )
        log.info("intake on %s for list %s (hub %s)%s", url, config.list_id, config.hub,
                 "; the page at /" if config.serve_page else "")  # fmt: skip
        yield RunningIntake(url, probes)
    log.info("intake stopped")


def serve_forever(config: IntakeConfig) -> None:
    done = stop_on_signal()
    with running_intake(config) as running:
        port = running.url.rsplit(":", 1)[1]
        print(f"hashlist intake {running.url} listening on port {port}", flush=True)
        done.wait()
