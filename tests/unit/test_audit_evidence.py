"""What an auditor keeps when a history fails to verify: never an empty note."""

from __future__ import annotations

from pathlib import Path

from auditor.replay import keep_evidence
from hashlist.errors import BadSignatureError, EquivocationError


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
