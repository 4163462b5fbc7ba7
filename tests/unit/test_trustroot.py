"""Loading a trust root validates everything and says precisely what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from hashlist.errors import TrustRootError
from hashlist.note import Signer
from hashlist.trustroot import load_trust_root, parse_trust_root
from tests.conftest import Keys


def test_round_trip_through_toml(keys: Keys, tmp_path: Path) -> None:
    root = keys.trust(quorum=1, max_age=600)
    path = tmp_path / "trust.toml"
    path.write_text(root.to_toml())
    assert load_trust_root(path) == root
    assert root.origin("takeitdown") == "hub.example/lists/takeitdown"


def _toml(keys: Keys, **overrides: str) -> str:
    lines = {
        "version": "1",
        "hub": '"hub.example"',
        "log_keys": f'["{keys.log.verifier()}"]',
        "timestamp_key": f'"{keys.timestamp.verifier()}"',
        "witness_keys": f'["{keys.witnesses[0].verifier()}"]',
        "witness_quorum": "1",
        "max_checkpoint_age_seconds": "3600",
    }
    lines.update(overrides)
    return "".join(f"{k} = {v}\n" for k, v in lines.items() if v != "")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hub": ""}, "missing required field\\(s\\): hub"),
        ({"log_keyz": "[]"}, "unknown field\\(s\\): log_keyz"),
        ({"version": '"1"'}, "version must be an integer"),
        ({"version": "0"}, "version must be >= 1"),
        ({"log_keys": "[]"}, "log_keys must list at least one key"),
        ({"log_keys": '["nonsense"]'}, "log_keys: verifier key 'nonsense' is not"),
        ({"witness_quorum": "2"}, "witness_quorum 2 must be between 0 and the 1 witness"),
        ({"max_checkpoint_age_seconds": "0"}, "max_checkpoint_age_seconds must be positive"),
        ({"hub": '"hub example"'}, "hub 'hub example' is not"),
        ({"version": "= ="}, "not valid TOML"),
    ],
)
def test_errors_name_the_field(keys: Keys, overrides: dict[str, str], message: str) -> None:
    with pytest.raises(TrustRootError, match=message) as info:
        parse_trust_root(_toml(keys, **overrides), source="trust.toml")
    assert str(info.value).startswith("trust.toml: ")


def test_key_types_are_checked(keys: Keys) -> None:
    with pytest.raises(TrustRootError, match="must be an Ed25519"):
        parse_trust_root(_toml(keys, log_keys=f'["{keys.timestamp.verifier()}"]'))
    with pytest.raises(TrustRootError, match="must be a cosignature/v1"):
        parse_trust_root(_toml(keys, timestamp_key=f'"{keys.log.verifier()}"'))
    other = Signer.generate("hub.example/log2")
    parse_trust_root(_toml(keys, log_keys=f'["{keys.log.verifier()}", "{other.verifier()}"]'))
    with pytest.raises(TrustRootError, match="listed twice"):
        parse_trust_root(
            _toml(keys, log_keys=f'["{keys.log.verifier()}", "{keys.log.verifier()}"]')
        )


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(TrustRootError, match="cannot read trust root"):
        load_trust_root(tmp_path / "missing.toml")
