"""A file of signals is checked whole before anything is published."""

from __future__ import annotations

from hashlib import md5
from pathlib import Path

import pytest

from hashlist.errors import InputError
from hashlist.signal_file import MAX_LINE_BYTES, SHOWN_ERRORS, read_signals

GOOD = "md5:" + "a" * 32


def test_every_line_is_checked_and_bad_ones_are_named_by_number(tmp_path: Path) -> None:
    path = tmp_path / "hashes.txt"
    lines = [GOOD.replace("a", "b")] * 5 + ["md5:zz", "# a comment", "", "sha256:" + "0" * 63]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as e:
        read_signals(path)
    assert "2 bad line(s), nothing was published" in str(e.value)
    assert "line 6: " in str(e.value)
    assert "line 9: " in str(e.value)


def test_only_the_first_bad_lines_are_shown_then_a_count(tmp_path: Path) -> None:
    path = tmp_path / "hashes.txt"
    path.write_text("".join(f"md5:{i}\n" for i in range(SHOWN_ERRORS + 7)))
    with pytest.raises(InputError) as e:
        read_signals(path)
    message = str(e.value)
    assert message.count("  line ") == SHOWN_ERRORS
    assert "... and 7 more bad line(s)" in message


def test_a_bad_last_line_of_a_long_file_is_found(tmp_path: Path) -> None:
    path = tmp_path / "hashes.txt"
    with path.open("w") as f:
        f.writelines(f"md5:{i:032x}\n" for i in range(150_000))
        f.write("md5:not-hex\n")
    with pytest.raises(InputError, match="line 150001: "):
        read_signals(path)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data"),
        (b"md5:" + b"a" * 32 + b"\n\xff\xfe not utf-8\n", "line 2: not UTF-8 text"),
        (b"x" * (MAX_LINE_BYTES + 1), "not a file of hashes"),
    ],
)
def test_binary_and_non_utf8_files_get_a_clear_error(
    tmp_path: Path, data: bytes, problem: str
) -> None:
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    with pytest.raises(InputError, match=problem):
        read_signals(path)


def test_json_lines_from_hashlist_hash_and_canonical_forms(tmp_path: Path) -> None:
    path = tmp_path / "hashes.jsonl"
    digest = md5(b"x").hexdigest()
    path.write_text(f'{{"file": "x", "signals": ["md5:{digest}"]}}\n  MD5:{"A" * 32}  # upper\n')
    assert read_signals(path) == [f"md5:{digest}", GOOD]


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_signals(tmp_path / "typo.txt")


def test_a_hashed_image_of_low_pdq_quality_is_refused(tmp_path: Path) -> None:
    """What `hashlist hash` prints for a blank image: its pdq would near-match anything."""
    path = tmp_path / "hashes.jsonl"
    path.write_text(
        '{"file": "ok.jpg", "pdq_quality": 100, "signals": ["md5:' + "a" * 32 + '"]}\n'
        '{"file": "blank.png", "pdq_quality": 0, "signals": ["md5:' + "b" * 32 + '"]}\n'
    )
    with pytest.raises(InputError, match="line 2: pdq quality 0 is below 50"):
        read_signals(path)
