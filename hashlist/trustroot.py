"""The trust root: which keys a node or auditor believes, and how fresh is fresh.

A trust root is a TOML file::

    version = 1                          # increases by one with each rotation
    hub = "hub.example"                  # checkpoint origins are "<hub>/lists/<list id>"
    log_keys = ["hub.example/log+1a2b3c4d+AT..."]          # Ed25519 (type 0x01)
    timestamp_key = "hub.example/timestamp+5e6f7a8b+BA..." # cosignature/v1 (type 0x04)
    witness_keys = []                    # cosignature/v1 keys of independent witnesses
    witness_quorum = 0                   # how many witnesses must cosign each checkpoint
    max_checkpoint_age_seconds = 3600    # older newest-cosignature => stale
    max_clock_skew_seconds = 300         # cosignatures dated later than now+skew are refused
    root_keys = ["hub.example/root-1+9a8b7c6d+AT..."]  # Ed25519 keys that sign new versions
    root_threshold = 1                   # how many distinct root keys must sign a new version
    expires = 2027-11-22T00:00:00Z       # a node refuses to move to an expired version

Every field is required except ``witness_keys``, ``witness_quorum``,
``max_clock_skew_seconds``, ``root_keys``, ``root_threshold`` and ``expires``;
unknown fields are refused (a typo must not silently weaken trust).
``parse_trust_root`` is pure; ``load_trust_root`` reads the file. Version
``N+1`` replaces version ``N`` only when signed by ``root_threshold`` of N's
root keys and of its own (``hashlist.rotation``); without root keys a trust
root can only be replaced by hand.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hashlist.delta import validate_list_id
from hashlist.errors import InputError, KeyFormatError, TrustRootError
from hashlist.note import COSIGNATURE_V1, ED25519, Verifier

_HUB = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:/_-]{0,200}")
_REQUIRED = {"version", "hub", "log_keys", "timestamp_key", "max_checkpoint_age_seconds"}
_OPTIONAL = {"witness_keys", "witness_quorum", "max_clock_skew_seconds", "root_keys",
             "root_threshold", "expires"}  # fmt: skip


@dataclass(frozen=True)
class TrustRoot:
    version: int
    hub: str
    log_keys: tuple[Verifier, ...]
    timestamp_key: Verifier
    witness_keys: tuple[Verifier, ...] = ()
    witness_quorum: int = 0
    max_checkpoint_age_seconds: int = 3600
    max_clock_skew_seconds: int = 300
    root_keys: tuple[Verifier, ...] = ()
    root_threshold: int = 1
    expires: int = 0  # Unix seconds; 0: never

    def __post_init__(self) -> None:
        _validate(self)

    def origin(self, list_id: str) -> str:
        """The checkpoint origin of list ``list_id`` on this hub."""
        try:
            validate_list_id(list_id)
        except InputError as e:
            raise TrustRootError(str(e)) from e
        return f"{self.hub}/lists/{list_id}"

    def list_of(self, origin: str) -> str:
        """The list id whose checkpoint origin is ``origin`` on this hub (inverse of ``origin``)."""
        prefix = f"{self.hub}/lists/"
        list_id = origin.removeprefix(prefix)
        if list_id == origin or self.origin(list_id) != origin:
            raise TrustRootError(f"{origin[:200]!r} is not a list of hub {self.hub!r}")
        return list_id

    def verifiers(self) -> list[Verifier]:
        return [*self.log_keys, self.timestamp_key, *self.witness_keys]

    def to_toml(self) -> str:
        def keys(vs: tuple[Verifier, ...]) -> str:
            return "[" + ", ".join(f'"{v}"' for v in vs) + "]"

        return (
            f"version = {self.version}\n"
            f'hub = "{self.hub}"\n'
            f"log_keys = {keys(self.log_keys)}\n"
            f'timestamp_key = "{self.timestamp_key}"\n'
            f"witness_keys = {keys(self.witness_keys)}\n"
            f"witness_quorum = {self.witness_quorum}\n"
            f"max_checkpoint_age_seconds = {self.max_checkpoint_age_seconds}\n"
            f"max_clock_skew_seconds = {self.max_clock_skew_seconds}\n"
            f"root_keys = {keys(self.root_keys)}\n"
            f"root_threshold = {self.root_threshold}\n"
            + (f"expires = {_rfc3339(self.expires)}\n" if self.expires else "")
        )


def parse_trust_root(text: str, *, source: str = "trust root") -> TrustRoot:
    """Parse and validate a trust root; every error names ``source`` and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise TrustRootError(f"{source}: not valid TOML: {e}") from e
    missing = sorted(_REQUIRED - data.keys())
    if missing:
        raise TrustRootError(f"{source}: missing required field(s): {', '.join(missing)}")
    unknown = sorted(data.keys() - _REQUIRED - _OPTIONAL)
    if unknown:
        raise TrustRootError(f"{source}: unknown field(s): {', '.join(unknown)}")
    try:
        return TrustRoot(
            version=_int(data, "version"),
            hub=_str(data, "hub"),
            log_keys=tuple(_key(k, "log_keys") for k in _list(data, "log_keys")),
            timestamp_key=_key(_str(data, "timestamp_key"), "timestamp_key"),
            witness_keys=tuple(_key(k, "witness_keys") for k in _list(data, "witness_keys")),
            witness_quorum=_int(data, "witness_quorum", 0),
            max_checkpoint_age_seconds=_int(data, "max_checkpoint_age_seconds"),
            max_clock_skew_seconds=_int(data, "max_clock_skew_seconds", 300),
            root_keys=tuple(_key(k, "root_keys") for k in _list(data, "root_keys")),
            root_threshold=_int(data, "root_threshold", 1),
            expires=_time(data, "expires"),
        )
    except TrustRootError as e:
        raise TrustRootError(f"{source}: {e}") from e


def load_trust_root(path: Path) -> TrustRoot:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise TrustRootError(f"cannot read trust root {path}: {e.strerror}") from e
    return parse_trust_root(text, source=str(path))


def _validate(root: TrustRoot) -> None:
    if root.version < 1:
        raise TrustRootError(f"version must be >= 1, got {root.version}")
    if not _HUB.fullmatch(root.hub):
        raise TrustRootError(f"hub {root.hub!r} is not a schema-less name like 'hub.example'")
    if not root.log_keys:
        raise TrustRootError("log_keys must list at least one key")
    _validate_keys(root)
    if not 0 <= root.witness_quorum <= len(root.witness_keys):
        raise TrustRootError(
            f"witness_quorum {root.witness_quorum} must be between 0 and the "
            f"{len(root.witness_keys)} witness key(s) listed"
        )
    if root.root_keys and not 1 <= root.root_threshold <= len(root.root_keys):
        raise TrustRootError(
            f"root_threshold {root.root_threshold} must be between 1 and the "
            f"{len(root.root_keys)} root key(s) listed"
        )
    if root.expires < 0:
        raise TrustRootError("expires must not be before 1970")
    if root.max_checkpoint_age_seconds <= 0:
        raise TrustRootError("max_checkpoint_age_seconds must be positive")
    if root.max_clock_skew_seconds < 0:
        raise TrustRootError("max_clock_skew_seconds must not be negative")


def _validate_keys(root: TrustRoot) -> None:
    for what, keys, sig_type in (
        ("log key", root.log_keys, ED25519),
        ("root key", root.root_keys, ED25519),
        ("cosigner key", (root.timestamp_key, *root.witness_keys), COSIGNATURE_V1),
    ):
        for v in keys:
            if v.sig_type != sig_type:
                kind = (
                    "an Ed25519 (type 0x01)" if sig_type == ED25519 else "a cosignature/v1 (0x04)"
                )
                raise TrustRootError(f"{what} {v.name!r} must be {kind} key")
    ids = [(v.name, v.key_id) for v in (*root.verifiers(), *root.root_keys)]
    if len(set(ids)) != len(ids):
        raise TrustRootError("the same key is listed twice")


def _int(data: dict[str, Any], name: str, default: int | None = None) -> int:
    value = data.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TrustRootError(f"{name} must be an integer, got {value!r}")
    return value


def _str(data: dict[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise TrustRootError(f"{name} must be a string, got {value!r}")
    return value


def _list(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TrustRootError(f"{name} must be a list of key strings")
    return value


def _time(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if value is None:
        return 0
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise TrustRootError(
            f"{name} must be a TOML date-time with a zone, like 2027-01-01T00:00:00Z"
        )
    return int(value.timestamp())


def _rfc3339(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(text: str, name: str) -> Verifier:
    try:
        return Verifier.from_string(text)
    except KeyFormatError as e:
        raise TrustRootError(f"{name}: {e}") from e
