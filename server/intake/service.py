"""The intake's JSON API: open a case, read it, withdraw it; forwarded to the hub.

- ``POST /v1/cases`` ``{"signals": ["md5:...", ...]}`` opens a case with a new
  number and PIN (made here, shown once): 201 ``{"case", "pin", "status", ...}``;
- ``GET /v1/cases/<number>`` with ``Authorization: PIN <pin>``: its status;
- ``POST /v1/cases/<number>/withdraw`` with the same header: withdraws it;
- ``GET /openapi.json``: the document (``server.intake.openapi``).

Invariants:

* Nothing is stored here: the hub holds every case. Nothing about the person
  is kept or logged: no address, no user agent; addresses live only in the
  in-memory rate limits (``server.ratelimit.TokenBuckets``, bounded).
* The hub's refusals become plain words for the person, with a status that
  says what to do (401 wrong number or PIN, 429 locked or too fast, 503 try
  later); what the hub said is logged, for the operator.
* A case number the hub finds taken is replaced by a new one and the case
  opened again; a retried Open with the same number and PIN is the same case.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from hashlist.cases import CaseView, new_case_number, new_pin, parse_case_number, parse_pin
from hashlist.errors import (
    AlreadyExistsError,
    ConflictError,
    HashlistError,
    InputError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
)
from hashlist.jsonhttp import HttpRefusedError, Request, Response, Route, json_response
from hashlist.signals import parse_signal
from server.ratelimit import TokenBuckets

log = logging.getLogger(__name__)
T = TypeVar("T")
_NUMBER = r"(?P<number>[^/]{1,40})"
_SIGNAL_CHARS = 80  # "sha256:" and 64 hex digits, with room for what a person pastes
_OPEN_ATTEMPTS = 3


class CaseHub(Protocol):
    """What the intake needs of the hub (``hashlist.client.HubClient`` is one)."""

    def open_case(
        self, list_id: str, number: str, pin: str, signals: Sequence[str]
    ) -> CaseView: ...
    def get_case(self, number: str, pin: str) -> CaseView: ...
    def withdraw_case(self, number: str, pin: str) -> CaseView: ...


def case_json(view: CaseView, **extra: Any) -> dict[str, Any]:
    return {"case": view.number, "status": view.state.value, "signals": view.signals,
            "version": view.version or None,
            "withdrawn_version": view.withdrawn_version or None, **extra}  # fmt: skip


class IntakeApi:
    def __init__(
        self, hub: CaseHub, list_id: str, *, max_signals: int, requests: TokenBuckets,
        opens: TokenBuckets, document: Callable[[], dict[str, Any]],
        hub_answered: Callable[[bool], None] = lambda _: None,
    ) -> None:  # fmt: skip
        self.hub, self.list_id, self.max_signals = hub, list_id, max_signals
        self.requests, self.opens, self.document = requests, opens, document
        self.hub_answered = hub_answered  # for readiness: did the hub answer the last call

    def routes(self) -> list[Route]:
        return [
            Route("POST", "/v1/cases", self.open, "/v1/cases", json_body=True),
            Route("GET", f"/v1/cases/{_NUMBER}", self.get, "/v1/cases/{number}"),
            Route(
                "POST",
                f"/v1/cases/{_NUMBER}/withdraw",
                self.withdraw,
                "/v1/cases/{number}/withdraw",
                json_body=True,
            ),
            Route(
                "GET",
                "/openapi.json",
                lambda _: json_response(200, self.document()),
                "/openapi.json",
            ),
        ]

    def open(self, request: Request) -> Response:
        self._limit(request, opening=True)
        signals = self._signals(request.json())
        for _ in range(_OPEN_ATTEMPTS):
            number, pin = new_case_number(), new_pin()

            def call(number: str = number, pin: str = pin) -> CaseView:
                return self.hub.open_case(self.list_id, number, pin, signals)

            try:
                view = self._from_hub(call)
            except AlreadyExistsError:
                continue  # 60 random bits taken: a new number
            return json_response(201, case_json(view, pin=pin))
        raise UnavailableError("no free case number after several tries")

    def get(self, request: Request) -> Response:
        self._limit(request)
        number, pin = _number(request), _pin(request)
        return json_response(200, case_json(self._from_hub(lambda: self.hub.get_case(number, pin))))

    def withdraw(self, request: Request) -> Response:
        self._limit(request)
        number, pin = _number(request), _pin(request)
        view = self._from_hub(lambda: self.hub.withdraw_case(number, pin))
        return json_response(200, case_json(view))

    def _from_hub(self, call: Callable[[], T]) -> T:
        return _from_hub(call, self.hub_answered)

    def _limit(self, request: Request, *, opening: bool = False) -> None:
        if not self.requests.take(request.client, 1) or (
            opening and not self.opens.take(request.client, 1)
        ):
            message = "Too many requests from here: please wait a few minutes and try again."
            raise HttpRefusedError(429, message, headers=[("Retry-After", "60")])

    def _signals(self, body: object) -> list[str]:
        if not isinstance(body, dict) or set(body) != {"signals"}:
            raise InputError('the body is {"signals": ["md5:...", ...]} and nothing else')
        items = body["signals"]
        if not isinstance(items, list) or not 1 <= len(items) <= self.max_signals:
            raise InputError(f"signals must be a list of 1 to {self.max_signals} hashes")
        out = set()
        for i, item in enumerate(items):
            if not isinstance(item, str) or len(item) > _SIGNAL_CHARS:
                raise InputError(f"signals[{i}] is not a hash like md5:<32 hex digits>")
            out.add(parse_signal(item).text)
        return sorted(out)


def _number(request: Request) -> str:
    return parse_case_number(request.params["number"])


def _pin(request: Request) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.upper() != "PIN" or not value.strip():
        raise HttpRefusedError(401, "Give the case's PIN: send the header "
                                    "'Authorization: PIN 12345-67890'.")  # fmt: skip
    return parse_pin(value.strip())


_ANSWERS = (AlreadyExistsError, UnauthenticatedError, ResourceExhaustedError, InputError,
            ConflictError, PermissionDeniedError)  # fmt: skip
"""What the hub says when it answers (a refusal is an answer); anything else: it did not."""


def _from_hub(call: Callable[[], T], answered: Callable[[bool], None]) -> T:
    """The hub's answer, or its refusal in plain words for the person (logged as is)."""
    try:
        result = call()
    except AlreadyExistsError:
        answered(True)
        raise
    except HashlistError as e:
        answered(isinstance(e, _ANSWERS))
        raise _in_plain_words(e) from e
    answered(True)
    return result


def _in_plain_words(e: HashlistError) -> HttpRefusedError:
    if isinstance(e, UnauthenticatedError):
        log.info("hub: %s", e)
        return HttpRefusedError(401, "The case number or the PIN is not right.")
    if isinstance(e, ResourceExhaustedError):
        log.info("hub: %s", e)
        message = (
            "Too many wrong PINs: this case is locked for a while. Try again later."
            if "wrong PIN" in str(e)
            else "The service is busy: try again in a minute."
        )
        return HttpRefusedError(429, message, headers=[("Retry-After", "900")])
    if isinstance(e, InputError):
        log.info("hub: %s", e)
        detail = str(e).rpartition("invalid argument: ")[2]
        return HttpRefusedError(400, f"These hashes cannot be taken: {detail}")
    if isinstance(e, ConflictError | PermissionDeniedError):
        log.error("hub refuses this intake's cases: %s (is the list's case policy set, and "
                  "is this service's certificate an intake certificate?)", e)  # fmt: skip
        return HttpRefusedError(503, "Cases cannot be opened right now. Please try again later.")
    log.warning("hub: %s: %s", type(e).__name__, e)
    return HttpRefusedError(503, "The service cannot reach its hub right now. Please try again "
                                 "in a few minutes.")  # fmt: skip
