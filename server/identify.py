"""Who calls a servicer: the identity in the verified client certificate."""

from __future__ import annotations

import grpc

from hashlist.errors import UnauthenticatedError
from hashlist.identity import Identity, identity_from_pem
from server.access import Access


def caller(context: grpc.ServicerContext, access: Access) -> Identity:
    """Who calls, from the verified client certificate, unless it was revoked."""
    pems = context.auth_context().get("x509_pem_cert")
    if not pems:
        raise UnauthenticatedError("no client certificate: connect with mTLS")
    return access.authenticate(identity_from_pem(pems[0]))
