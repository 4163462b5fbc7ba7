"""Who calls a servicer: the identity in the verified client certificate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import grpc

from hashlist.errors import UnauthenticatedError
from hashlist.identity import Identity, identity_from_pem
from server.access import Access


def caller(context: grpc.ServicerContext, access: Access) -> Identity:
    """Who calls, from the verified client certificate, unless it was revoked."""
    return identify(certificate(context), access)


def certificate(context: grpc.ServicerContext | grpc.aio.ServicerContext[Any, Any]) -> bytes:
    """The client's certificate (PEM), as the TLS handshake verified it."""
    # Both kinds of context give a list of PEMs (grpc's stubs say bytes for the sync one).
    auth = cast(Mapping[str, Sequence[bytes]], context.auth_context())
    pems = auth.get("x509_pem_cert")
    if not pems:
        raise UnauthenticatedError("no client certificate: connect with mTLS")
    return pems[0]


def identify(pem: bytes, access: Access) -> Identity:
    """Who ``pem`` names, unless its certificate was revoked. The certificate is parsed
    once (cached), and revocations are in memory: the event loop may ask."""
    return access.authenticate(identity_from_pem(pem))
