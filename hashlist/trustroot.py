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

Every field is required except ``witness_keys``, ``witness_quorum`` and
``max_clock_skew_seconds``; unknown fields are refused (a typo must not
silently weaken trust). ``parse_trust_root`` is pure; ``load_trust_root``
reads the file. Rotation (a new version signed by the old keys) builds on
this in a later change.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hashlist.delta import validate_list_id
from hashlist.errors import InputError, KeyFormatError, TrustRootError
from hashlist.note import COSIGNATURE_V1, ED25519, Verifier

_HUB = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:/_-]{0,200}")
_REQUIRED = {"version", "hub", "log_keys", "timestamp_key", "max_checkpoint_age_seconds"}
_OPTIONAL = {"witness_keys", "witness_quorum", "max_clock_skew_seconds"}


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

    def __post_init__(self) -> None:
        _validate(self)

    def origin(self, list_id: str) -> str:
        """The checkpoint origin of list ``list_id`` on this hub."""
        try:
            validate_list_id(list_id)
        except InputError as e:
            raise TrustRootError(str(e)) from e
        return f"{self.hub}/lists/{list_id}"

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
    for v in root.log_keys:
        if v.sig_type != ED25519:
            raise TrustRootError(f"log key {v.name!r} must be an Ed25519 (type 0x01) key")
    for v in (root.timestamp_key, *root.witness_keys):
        if v.sig_type != COSIGNATURE_V1:
            raise TrustRootError(f"cosigner key {v.name!r} must be a cosignature/v1 (0x04) key")
    ids = [(v.name, v.key_id) for v in root.verifiers()]
    if len(set(ids)) != len(ids):
        raise TrustRootError("the same key is listed twice")
    if not 0 <= root.witness_quorum <= len(root.witness_keys):
        raise TrustRootError(
            f"witness_quorum {root.witness_quorum} must be between 0 and the "
            f"{len(root.witness_keys)} witness key(s) listed"
        )
    if root.max_checkpoint_age_seconds <= 0:
        raise TrustRootError("max_checkpoint_age_seconds must be positive")
    if root.max_clock_skew_seconds < 0:
        raise TrustRootError("max_clock_skew_seconds must not be negative")


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


def _key(text: str, name: str) -> Verifier:
    try:
        return Verifier.from_string(text)
    except KeyFormatError as e:
        raise TrustRootError(f"{name}: {e}") from e
