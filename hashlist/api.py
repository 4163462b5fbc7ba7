"""Domain types of the operator's API (what Admin calls return), free of protobuf."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PublishResult:
    version: int
    added: int
    removed: int
    already_listed: tuple[str, ...]
    not_listed: tuple[str, ...]
    checkpoint_note: bytes
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class ListStatus:
    list_id: str
    size: int
    hashes: int
    root: bytes
    state_digest: bytes
    cosigned_at: int
    partners: tuple[str, ...]
