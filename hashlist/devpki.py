"""A development PKI: a CA and certificates for a hub, partners, an operator, an auditor.

For local federations and tests only. Keys are ECDSA P-256 and certificates
are valid for ten years. Roles and names go in the subject as
``identity.py`` reads them. Real deployments issue certificates from their own
CA with the same subject layout.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hashlist.identity import ORGANIZATION, Role

DEV_PARTNERS = ("facebook", "instagram", "yubo")
DEV_CA_NAME = "hashlist development CA"
_VALIDITY = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class Issued:
    cert_pem: bytes
    key_pem: bytes


def _name(role: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class DevCA:
    def __init__(self, common_name: str = DEV_CA_NAME) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        name = _name("ca", common_name)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, role: Role | str, name: str, *, server: bool = False) -> Issued:
        """A certificate for ``name`` in ``role`` (a plain string only for tests of bad roles)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        usage = [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(role.value if isinstance(role, Role) else role, name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        )
        if server:
            sans: list[x509.GeneralName] = [
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("::1")),
            ]
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def write_dev_pki(out: Path, partners: tuple[str, ...] = DEV_PARTNERS) -> DevCA:
    """Write ca.pem and NAME.pem/NAME.key for hub, partners, operator, auditor, a witness
    and the intake."""
    out.mkdir(parents=True, exist_ok=True)
    ca = DevCA()
    (out / "ca.pem").write_bytes(ca.cert_pem)
    issued = {"hub": ca.issue(Role.HUB, "hub", server=True)}
    issued.update({p: ca.issue(Role.PARTNER, p) for p in partners})
    issued["operator"] = ca.issue(Role.OPERATOR, "operator")
    issued["auditor"] = ca.issue(Role.AUDITOR, "auditor")
    issued["witness"] = ca.issue(Role.WITNESS, "witness", server=True)
    issued["intake"] = ca.issue(Role.INTAKE, "intake")  # the intake service, towards the hub
    for name, item in issued.items():
        (out / f"{name}.pem").write_bytes(item.cert_pem)
        key_path = out / f"{name}.key"
        key_path.unlink(missing_ok=True)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(item.key_pem)
    return ca


def is_development_ca(pem: bytes) -> bool:
    """Whether a CA file holds a certificate of this module's development CA (whose
    keys are in ``certs-dev/`` for anyone to read, or were made by a demo)."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        return False
    return any(
        attr.value == DEV_CA_NAME
        for cert in certs
        for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    )
