"""The hub client retries what a moment may change, and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

from hashlist import errors
from hashlist.client import ClientTLS, HubClient
from hashlist.retry import Backoff


class _Failed(grpc.RpcError, grpc.Call):
    """A failed call as gRPC raises it (only code and details are read)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    # The rest of grpc.Call, unused here.
    def initial_metadata(self) -> Any:
        return ()

    def trailing_metadata(self) -> Any:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float:
        return 0.0

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Any) -> bool:
        return False


def _failing(code: grpc.StatusCode, details: str, calls: list[int]) -> Callable[..., Any]:
    def call(request: object, timeout: float) -> Any:
        calls.append(1)
        raise _Failed(code, details)

    return call


@pytest.fixture
def hub(pki: Any) -> HubClient:
    tls = ClientTLS(pki / "ca.pem", pki / "operator.pem", pki / "operator.key")
    return HubClient("127.0.0.1:1", tls, backoff=Backoff(base=0.001, cap=0.002, attempts=5))


@pytest.mark.parametrize(
    ("code", "error", "attempts"),
    [
        (grpc.StatusCode.UNAVAILABLE, errors.UnavailableError, 5),
        (grpc.StatusCode.DEADLINE_EXCEEDED, errors.UnavailableError, 5),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, errors.ResourceExhaustedError, 1),
        (grpc.StatusCode.INVALID_ARGUMENT, errors.InputError, 1),
        (grpc.StatusCode.PERMISSION_DENIED, errors.PermissionDeniedError, 1),
    ],
)
def test_only_transient_failures_are_retried(
    hub: HubClient, code: grpc.StatusCode, error: type[errors.HashlistError], attempts: int
) -> None:
    calls: list[int] = []
    with pytest.raises(error):
        hub._unary("publish", _failing(code, "no", calls), object())
    assert len(calls) == attempts
    hub.close()


def test_an_oversized_message_names_the_peer_and_the_limit(hub: HubClient) -> None:
    details = "Received message larger than max (70000000 vs. 33554432)"
    calls: list[int] = []
    failing = _failing(grpc.StatusCode.RESOURCE_EXHAUSTED, details, calls)
    with pytest.raises(errors.OversizedResponseError) as e:
        hub._unary("check at the node's matcher unix:/run/n.sock", failing, object())
    assert "matcher unix:/run/n.sock" in str(e.value)
    assert "33554432" in str(e.value)
    assert "hub" not in str(e.value)
    assert len(calls) == 1
    hub.close()
