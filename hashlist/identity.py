"""Who is calling: identity from an mTLS client certificate.

A hashlist certificate names its holder in the subject: ``O=hashlist``,
``OU=<role>`` (``hub``, ``partner``, ``operator`` or ``auditor``) and
``CN=<name>`` (for partners, the partner's name, e.g. ``facebook``). The TLS
layer has already verified the chain against the hub's CA; this module only
reads the verified certificate, so anything it cannot read is unauthenticated.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import NameOID

from hashlist.errors import UnauthenticatedError

ORGANIZATION = "hashlist"


class Role(enum.Enum):
    HUB = "hub"
    PARTNER = "partner"
    OPERATOR = "operator"
    AUDITOR = "auditor"
    WITNESS = "witness"
    INTAKE = "intake"
    """The public intake service: may open, read and withdraw cases, nothing else."""


class IdentityError(UnauthenticatedError):
    """A verified certificate that does not name a hashlist role and holder."""


@dataclass(frozen=True, slots=True)
class Identity:
    role: Role
    name: str
    serial: str = field(default="", compare=False)  # the certificate's, lowercase hex
    not_after: int = field(default=0, compare=False)  # its expiry, unix seconds

    def __str__(self) -> str:
        return f"{self.role.value}:{self.name}"


@functools.lru_cache(maxsize=1024)
def identity_from_pem(pem: bytes) -> Identity:
    """The identity a PEM certificate states; ``IdentityError`` if it states none."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as e:
        raise IdentityError("client certificate cannot be parsed") from e
    role, name = role_and_name(cert.subject, "client certificate")
    return Identity(role, name, f"{cert.serial_number:x}",
                    int(cert.not_valid_after_utc.timestamp()))  # fmt: skip


def role_and_name(subject: x509.Name, what: str) -> tuple[Role, str]:
    """The role (``OU``) and name (``CN``) of a hashlist subject (``O=hashlist``); an
    ``IdentityError`` naming ``what`` (a client certificate, a request) otherwise."""

    def one(oid: x509.ObjectIdentifier, part: str) -> str:
        values = subject.get_attributes_for_oid(oid)
        if len(values) != 1:
            raise IdentityError(f"{what} must have exactly one {part}")
        value = values[0].value
        return value if isinstance(value, str) else value.decode()

    if one(NameOID.ORGANIZATION_NAME, "O") != ORGANIZATION:
        raise IdentityError(f"{what} is not a hashlist certificate (O is not {ORGANIZATION})")
    role_text = one(NameOID.ORGANIZATIONAL_UNIT_NAME, "OU (role)")
    try:
        role = Role(role_text)
    except ValueError as e:
        raise IdentityError(f"{what} has unknown role {role_text[:30]!r}") from e
    return role, one(NameOID.COMMON_NAME, "CN (name)")
