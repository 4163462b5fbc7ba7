"""The operator's CA: what it issues, and every request it refuses."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hashlist.identity import Role, identity_from_pem
from hashlist.pki import PkiError, issue, new_ca, new_request

NOW = datetime.datetime(2026, 11, 23, tzinfo=datetime.UTC)
CA_CERT, CA_KEY = new_ca("test partners CA", now=NOW)


def test_an_issued_certificate_names_what_the_request_asked_and_expires() -> None:
    _, csr = new_request(Role.PARTNER, "acme")
    issued = issue(csr, CA_CERT, CA_KEY, now=NOW, role=Role.PARTNER, name="acme")
    who = identity_from_pem(issued.cert_pem)
    assert (who.role, who.name, who.serial) == (Role.PARTNER, "acme", f"{issued.serial:x}")
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    assert cert.not_valid_after_utc.date() == datetime.date(2027, 11, 23)  # a year
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    month = issue(csr, CA_CERT, CA_KEY, now=NOW, role=Role.PARTNER, name="acme", days=30)
    assert month.not_after - int(NOW.timestamp()) == 30 * 86_400


def test_a_server_certificate_carries_its_host_names() -> None:
    _, csr = new_request(Role.HUB, "hub", dns=("hub.example.org",), ips=("192.0.2.7",))
    issued = issue(csr, CA_CERT, CA_KEY, now=NOW, role=Role.HUB, name="hub",
                   dns=("hub.example.org",), ips=("192.0.2.7",))  # fmt: skip
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["hub.example.org"]
    with pytest.raises(PkiError, match="needs its host names"):
        new_request(Role.WITNESS, "w")
    for dns in (("hub.example.org", "evil.example"), ("*.example.org",), ()):
        with pytest.raises(PkiError, match=r"not the ones you gave|wildcard|give the hub"):
            issue(csr, CA_CERT, CA_KEY, now=NOW, role=Role.HUB, name="hub", dns=dns,
                  ips=("192.0.2.7",) if dns else ())  # fmt: skip


def _csr(subject: list[tuple[x509.ObjectIdentifier, str]]) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in subject])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


ORG, OU, CN = NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.COMMON_NAME


@pytest.mark.parametrize(
    ("csr", "refusal"),
    [
        (_csr([(ORG, "evil"), (OU, "partner"), (CN, "acme")]), "not a hashlist certificate"),
        (_csr([(ORG, "hashlist"), (OU, "root"), (CN, "acme")]), "unknown role"),
        (_csr([(ORG, "hashlist"), (OU, "partner"), (CN, "Acme Corp")]), "is not valid"),
        (_csr([(ORG, "hashlist"), (OU, "partner")]), "exactly one CN"),
        (_csr([(ORG, "hashlist"), (OU, "operator"), (CN, "acme")]), "asks for operator"),
        (b"-----BEGIN CERTIFICATE REQUEST-----\nnot one\n", "not a PEM"),
    ],
)  # fmt: skip
def test_a_request_that_would_not_make_a_valid_certificate_is_refused(
    csr: bytes, refusal: str
) -> None:
    with pytest.raises(PkiError, match=refusal):
        issue(csr, CA_CERT, CA_KEY, now=NOW, role=Role.PARTNER, name="acme")


def test_an_altered_request_is_refused() -> None:
    _, csr = new_request(Role.PARTNER, "acme")
    loaded = x509.load_pem_x509_csr(csr)
    der = bytearray(loaded.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature
    altered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(PkiError, match="signature does not verify"):
        issue(altered, CA_CERT, CA_KEY, now=NOW, role=Role.PARTNER, name="acme")


def test_the_subject_is_built_never_copied_and_the_ca_must_match() -> None:
    csr = _csr([(ORG, "hashlist"), (OU, "partner"), (CN, "acme"),
                (NameOID.EMAIL_ADDRESS, "x@evil.example")])  # fmt: skip
    cert = x509.load_pem_x509_certificate(
        issue(csr, CA_CERT, CA_KEY, now=NOW, role=Role.PARTNER, name="acme").cert_pem
    )
    assert not cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)
    _, other_key = new_ca("another CA", now=NOW)
    with pytest.raises(PkiError, match="does not belong"):
        issue(csr, CA_CERT, other_key, now=NOW, role=Role.PARTNER, name="acme")
    short_ca, short_key = new_ca("short-lived CA", now=NOW, days=10)
    capped = issue(csr, short_ca, short_key, now=NOW, role=Role.PARTNER, name="acme")
    assert capped.not_after <= int((NOW + datetime.timedelta(days=10)).timestamp())
