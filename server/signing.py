"""The hub's signing identity: its name, log keys and timestamp key.

Every checkpoint the hub serves is signed by each configured log key and
cosigned (``cosignature/v1``, timestamped) by the timestamp key. Keys are
loaded by the caller and passed in; this module never reads a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hashlist.checkpoint import Checkpoint, cosign, sign_checkpoint
from hashlist.note import Signer


@dataclass(frozen=True)
class HubSigning:
    name: str
    log_signers: Sequence[Signer]
    timestamp_signer: Signer

    def __post_init__(self) -> None:
        if not self.log_signers:
            raise ValueError("a hub needs at least one log key")

    def origin(self, list_id: str) -> str:
        return f"{self.name}/lists/{list_id}"

    def sign(self, list_id: str, size: int, root: bytes, now: int) -> tuple[bytes, bytes]:
        """(note signed by the log keys only, the same note cosigned at ``now``)."""
        log_note = self.sign_log(list_id, size, root)
        return log_note, self.cosign(log_note, now)

    def sign_log(self, list_id: str, size: int, root: bytes) -> bytes:
        """The checkpoint of ``size`` signed by the log keys (kept forever, never served alone)."""
        return sign_checkpoint(Checkpoint(self.origin(list_id), size, root), list(self.log_signers))

    def cosign(self, note: bytes, now: int) -> bytes:
        return cosign(note, [self.timestamp_signer], now)
