"""The operator's certificate authority: onboarding without anyone's private key moving.

Three steps, each a pure function over PEM bytes (the CLI reads and writes
the files):

1. ``new_ca(name)``: the operator's CA certificate and key (keep the key
   offline; it is needed only to issue);
2. ``new_request(role, name, ...)``: run by the certificate's holder; its key
   never leaves it, only the CSR does;
3. ``issue(csr, ca_cert, ca_key, now=..., days=...)``: the operator checks the
   CSR's signature, its role and its name, and issues a certificate with the
   subject layout ``hashlist.identity`` reads (``O=hashlist``, ``OU=<role>``,
   ``CN=<name>``), a random serial and an expiry.

Every refusal is a ``PkiError`` naming what is wrong. Keys are ECDSA P-256.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hashlist.errors import InputError
from hashlist.identity import ORGANIZATION, IdentityError, Role, role_and_name

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
SERVER_ROLES = frozenset({Role.HUB, Role.WITNESS})
DEFAULT_DAYS = {Role.PARTNER: 365, Role.OPERATOR: 365, Role.AUDITOR: 365, Role.INTAKE: 365,
                Role.HUB: 825, Role.WITNESS: 825}  # fmt: skip


class PkiError(InputError):
    """A request or an issuance that would not give a valid hashlist certificate."""


@dataclass(frozen=True)
class Issued:
    cert_pem: bytes
    serial: int
    role: Role
    name: str
    not_after: int  # unix seconds


def _subject(role: str, name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
        x509.NameAttribute(NameOID.COMMON_NAME, name),
    ])  # fmt: skip


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())  # fmt: skip


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise PkiError(f"name {name[:70]!r} is not valid: 1-63 of a-z, 0-9, '.', '_', '-', "
                       "starting with a letter or digit")  # fmt: skip
    return name


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise PkiError(f"role {text[:30]!r} is not one of {known}") from None


def new_ca(name: str, *, now: datetime.datetime, days: int = 3650) -> tuple[bytes, bytes]:
    """(CA certificate PEM, CA key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _subject("ca", name)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                       critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def new_request(
    role: Role, name: str, *, dns: tuple[str, ...] = (), ips: tuple[str, ...] = ()
) -> tuple[bytes, bytes]:
    """(private key PEM, CSR PEM) for ``name`` in ``role``; a server role needs its
    host names or addresses (``dns``, ``ips``)."""
    check_name(name)
    sans = _sans(dns, ips)
    if role in SERVER_ROLES and not sans:
        raise PkiError(f"a {role.value} certificate needs its host names (--dns) or addresses")
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(_subject(role.value, name))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    csr = builder.sign(key, hashes.SHA256())
    return _key_pem(key), csr.public_bytes(serialization.Encoding.PEM)


def _sans(dns: tuple[str, ...], ips: tuple[str, ...]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    for ip in ips:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError as e:
            raise PkiError(f"{ip[:40]!r} is not an IP address") from e
    return out


def issue(
    csr_pem: bytes, ca_cert_pem: bytes, ca_key_pem: bytes, *, now: datetime.datetime,
    role: Role, name: str, dns: tuple[str, ...] = (), ips: tuple[str, ...] = (),
    days: int | None = None,
) -> Issued:  # fmt: skip
    """A certificate for the CSR, after checking its signature, and that it asks for
    exactly the ``role``, ``name`` and (servers) host names the operator expects: the
    certificate is built from those, never from what else the request carries."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as e:
        raise PkiError("not a PEM certificate signing request") from e
    if not csr.is_signature_valid:
        raise PkiError("the request's signature does not verify: it was altered")
    if not isinstance(csr.public_key(), ec.EllipticCurvePublicKey):
        raise PkiError("the request's key is not an ECDSA key (make it with hashlist pki request)")
    asked_role, asked_name = _subject_of(csr.subject)
    if (asked_role, asked_name) != (role, check_name(name)):
        raise PkiError(f"the request asks for {asked_role.value} {asked_name!r}, not the "
                       f"{role.value} {name!r} you are issuing: refused")  # fmt: skip
    ca_cert, ca_key = _load_ca(ca_cert_pem, ca_key_pem)
    lifetime = days if days is not None else DEFAULT_DAYS[role]
    if not 1 <= lifetime <= 3650:
        raise PkiError(f"--days must be 1..3650, got {lifetime}")
    not_after = min(now + datetime.timedelta(days=lifetime), ca_cert.not_valid_after_utc)
    server = role in SERVER_ROLES
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    serial = x509.random_serial_number()
    builder = (
        x509.CertificateBuilder().subject_name(_subject(role.value, name))
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key()).serial_number(serial)
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )  # fmt: skip
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(_server_names(csr, role, dns, ips)), critical=False
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM), serial, role, name,
                  int(not_after.timestamp()))  # fmt: skip


def _load_ca(
    cert_pem: bytes, key_pem: bytes
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except ValueError as e:
        raise PkiError("the CA certificate or key cannot be read") from e
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError("the CA key is not an ECDSA key")
    if key.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
        raise PkiError("the CA key does not belong to the CA certificate")
    return cert, key


def _server_names(
    csr: x509.CertificateSigningRequest, role: Role, dns: tuple[str, ...], ips: tuple[str, ...]
) -> list[x509.GeneralName]:
    """The host names the operator gives, which must be exactly those requested."""
    expected = _sans(dns, ips)
    if not expected:
        raise PkiError(f"give the {role.value}'s host names (--dns, --ip) to issue it")
    if any(d.startswith("*") or "*" in d for d in dns):
        raise PkiError("wildcard host names are not issued")
    try:
        asked = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        asked = []
    if sorted(map(str, asked)) != sorted(map(str, expected)):
        shown = ", ".join(str(a.value) for a in asked) or "none"
        raise PkiError(f"the request names hosts {shown}, not the ones you gave: refused")
    return expected


def _subject_of(subject: x509.Name) -> tuple[Role, str]:
    try:
        role, name = role_and_name(subject, "the request")
    except IdentityError as e:
        raise PkiError(str(e)) from e
    return role, check_name(name)
