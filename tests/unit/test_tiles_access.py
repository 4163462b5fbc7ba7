"""The nginx access map for the entry bundles, from the hub's grants and revocations
(``hashlist.tiles_access``): exact, case-sensitive, and closed by default. nginx itself
applies it in ``tests/e2e/test_tiles.py``."""

from __future__ import annotations

from hashlist.model import CertificateSeen, Partner, PartnerList
from hashlist.oversight import ActionRecord
from hashlist.tiles_access import nginx_access_map, nginx_serial, revoked_serials


def _partner(name: str, *lists: str, revoked: tuple[str, ...] = ()) -> Partner:
    certificates = tuple(CertificateSeen(s, 0, True, 0) for s in revoked)
    return Partner(name, certificates, tuple(PartnerList(x, 0, 0, 0) for x in lists), 0)


def _revocation(target: str, outcome: str = "done: revoked") -> ActionRecord:
    return ActionRecord(1, 0, "operator", "revoke certificate", target, "lost", outcome)


def test_grants_become_exact_case_sensitive_subject_patterns() -> None:
    partners = [_partner("facebook", "takeitdown", "stop.ncii"), _partner("nobody"),
                _partner("Evil,O=hashlist", "takeitdown"),
                _partner("yubo.fr", "takeitdown")]  # fmt: skip
    access = nginx_access_map(partners, [])
    lines = access.text.splitlines()
    subject = "CN={},OU=partner,O=hashlist"
    grants = [("facebook", "facebook", "stop[.]ncii", "stop.ncii"),
              ("facebook", "facebook", "takeitdown", "takeitdown"),
              ("yubo.fr", "yubo[.]fr", "takeitdown", "takeitdown")]  # fmt: skip
    for name, pattern, list_id, shown in grants:
        key = f"~^{subject.format(pattern)}/{list_id}$"
        assert f'    "{key}" 1;  # {name} reads {shown}' in lines
    assert access.grants == 3
    assert "Evil" not in access.text  # a name nginx would escape: left out, and said so
    assert access.skipped == ("'Evil,O=hashlist': a name nginx would escape in a subject; "
                              "its nodes read entries from the hub only",)  # fmt: skip
    assert lines.count("    default 0;") == 2  # both maps say no unless told otherwise


def test_revoked_serials_come_from_certificates_seen_and_the_trail() -> None:
    partners = [_partner("facebook", "takeitdown", revoked=("abc",))]
    trail = [_revocation("0x00DEF1"), _revocation("1234", "failed: not a serial"),
             _revocation("not hex"), _revocation("fed", "started")]  # fmt: skip
    revoked = revoked_serials(partners, trail)
    assert revoked == {"abc", "def1", "fed"}  # a revocation that may have gone through counts
    text = nginx_access_map(partners, revoked).text
    assert '    "0ABC" 1;' in text  # as nginx prints $ssl_client_serial
    assert '    "DEF1" 1;' in text
    assert nginx_serial("8a11223344") == "8A11223344"
