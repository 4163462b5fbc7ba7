"""What an auditor keeps: never an empty note when a history fails to verify, and
checkpoints that verify again, run after run, across key rotations."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from auditor.replay import keep_evidence
from hashlist.audit import KeptNote, verify_kept
from hashlist.checkpoint import Checkpoint, cosign, sign_checkpoint
from hashlist.errors import BadSignatureError, EquivocationError, RollbackError
from hashlist.note import ED25519, Signer
from hashlist.trustroot import TrustRoot
from tests.conftest import Keys


def test_no_note_means_no_empty_note_file(tmp_path: Path) -> None:
    keep_evidence(tmp_path, b"", BadSignatureError("no trusted key signed"), 1_800_000_000)
    kept = sorted(p.name for p in (tmp_path / "evidence").iterdir())
    assert kept == ["1800000000-BadSignatureError.txt"]
    assert all(p.stat().st_size > 0 for p in (tmp_path / "evidence").iterdir())


def test_an_equivocation_keeps_both_notes(tmp_path: Path) -> None:
    error = EquivocationError("two roots", trusted_note=b"one\n", conflicting_note=b"two\n")
    keep_evidence(tmp_path, b"two\n", error, 7)
    evidence = tmp_path / "evidence"
    assert (evidence / "7-EquivocationError.served.note").read_bytes() == b"two\n"
    assert (evidence / "7-EquivocationError.trusted.note").read_bytes() == b"one\n"


def _chain_and_notes(keys: Keys) -> tuple[list[TrustRoot], bytes, bytes]:
    """v1 names the old log key, v2 only a new one; a checkpoint signed under each."""
    v1 = keys.trust()
    new_log = Signer.generate(f"{v1.hub}/log-2", ED25519)
    v2 = dataclasses.replace(v1, version=2, log_keys=(new_log.verifier(),))
    checkpoint = Checkpoint(v1.origin("takeitdown"), 1, b"\1" * 32)
    old = cosign(sign_checkpoint(checkpoint, [keys.log]), [keys.timestamp], 1_800_000_000)
    new = cosign(sign_checkpoint(checkpoint, [new_log]), [keys.timestamp], 1_800_000_000)
    return [v1, v2], old, new


def test_a_kept_checkpoint_is_checked_under_the_version_it_was_verified_under(
    keys: Keys,
) -> None:
    chain, old, new = _chain_and_notes(keys)
    assert verify_kept(KeptNote(old, 1), chain, "takeitdown").checkpoint.size == 1
    assert verify_kept(KeptNote(new, 2), chain, "takeitdown").checkpoint.size == 1
    assert verify_kept(KeptNote(old), chain, "takeitdown")  # not recorded: any version
    with pytest.raises(BadSignatureError):  # recorded under v2, which never named that key
        verify_kept(KeptNote(old, 2), chain, "takeitdown")


def test_a_kept_checkpoint_from_a_version_the_hub_no_longer_serves_is_a_rollback(
    keys: Keys,
) -> None:
    chain, _, new = _chain_and_notes(keys)
    with pytest.raises(RollbackError, match="withholds a version this auditor accepted"):
        verify_kept(KeptNote(new, 2), chain[:1], "takeitdown")
