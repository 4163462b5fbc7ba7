"""Trust-root rotation: TUF's root chaining over C2SP signed notes.

A new trust-root version is a signed note whose text is the version's TOML
(``TrustRoot.to_toml``), signed by root keys. Version ``N+1`` replaces
version ``N`` only if

1. at least ``N.root_threshold`` distinct root keys **of N** signed it
   (verified before the text is parsed: sign and check bytes, then parse);
2. it parses as a trust root of the same hub, with version exactly ``N+1``;
3. at least its own ``root_threshold`` distinct root keys of its own signed
   it, so a new version cannot name keys that never agreed to it.

``walk`` applies versions in order from a fetch function, up to a cap, and
checks that the version it ends on has not expired (intermediate versions
may have: only the newest is trusted for anything). A key that signed twice
counts once (``open_note``). Pure: bytes and the time in, a ``TrustRoot`` or
a typed ``RotationError`` out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hashlist.errors import (
    BadSignatureError,
    ExpiredTrustRootError,
    RotationError,
    RotationThresholdError,
    RotationVersionError,
    TrustRootError,
)
from hashlist.note import Signer, Verifier, open_note, sign_note
from hashlist.trustroot import TrustRoot, parse_trust_root

MAX_ROTATIONS = 32  # versions applied in one walk; more means a misconfigured or hostile hub


def sign_trust_root(root: TrustRoot, signers: Sequence[Signer]) -> bytes:
    """``root`` as a signed note by ``signers`` (old and new root keys, for a rotation)."""
    return sign_note(root.to_toml().encode(), list(signers))


def verify_rotation(current: TrustRoot, signed: bytes) -> TrustRoot:
    """The version that ``signed`` carries, if it may replace ``current``; see the module doc."""
    _threshold(signed, current.root_keys, current.root_threshold, f"version {current.version}")
    text, _ = open_note(signed, list(current.root_keys))
    try:
        new = parse_trust_root(text.text.decode(), source=f"trust root after {current.version}")
    except TrustRootError as e:
        raise RotationError(str(e)) from e
    if new.hub != current.hub:
        raise RotationVersionError(f"new trust root is for hub {new.hub!r}, not {current.hub!r}")
    if new.version != current.version + 1:
        raise RotationVersionError(
            f"trust root version {new.version} cannot follow version {current.version}: "
            f"versions go up by exactly one"
        )
    _threshold(signed, new.root_keys, new.root_threshold, f"version {new.version} itself")
    return new


def walk(
    current: TrustRoot,
    fetch: Callable[[int], bytes | None],
    *,
    now: int | None,
    cap: int = MAX_ROTATIONS,
) -> tuple[TrustRoot, list[bytes]]:
    """Apply every newer version ``fetch(version)`` returns, in order.

    Returns the newest trust root and the signed versions applied (to be kept).
    ``now`` None skips the expiry check (re-walking versions accepted earlier).
    """
    accepted: list[bytes] = []
    while (signed := fetch(current.version + 1)) is not None:
        if len(accepted) >= cap:
            raise RotationError(f"more than {cap} trust-root versions at once; refusing")
        current = verify_rotation(current, signed)
        accepted.append(signed)
    if now is not None and current.expires and now >= current.expires:
        raise ExpiredTrustRootError(
            f"trust root version {current.version} expired at {current.expires} (now {now}); "
            f"the hub must publish a newer version signed by the root keys"
        )
    return current, accepted


def walk_chain(
    current: TrustRoot, fetch: Callable[[int], bytes | None], *, now: int | None
) -> list[TrustRoot]:
    """``current`` and every newer version ``walk`` applies, oldest first: the last
    is the version in force; the others are what older checkpoints were signed under."""
    _, accepted = walk(current, fetch, now=now)
    chain = [current]
    for signed in accepted:
        chain.append(verify_rotation(chain[-1], signed))
    return chain


def _threshold(signed: bytes, keys: Sequence[Verifier], threshold: int, whose: str) -> None:
    if not keys:
        raise RotationThresholdError(f"{whose} has no root keys: it can only be replaced by hand")
    try:
        _, verified = open_note(signed, list(keys))
    except BadSignatureError as e:
        raise RotationThresholdError(f"not signed by the root keys of {whose}: {e}") from e
    if len(verified) < threshold:
        raise RotationThresholdError(
            f"signed by {len(verified)} distinct root key(s) of {whose}, {threshold} required"
        )
