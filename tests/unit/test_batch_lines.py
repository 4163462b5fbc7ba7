"""``node check --batch``: every input line gets exactly one answer line, in order."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from hashlist.cli import batch
from hashlist.model import CheckQuery, ItemError
from hashlist.synthetic import jpeg_bytes, synthetic_image


def lines(text: str, send_content: bool = False) -> list[tuple[int, CheckQuery | ItemError]]:
    return [(line.number, line.query) for line in batch._lines(io.StringIO(text), send_content)]


def test_blank_lines_are_skipped_and_numbers_are_the_files() -> None:
    md5 = "md5:" + "ab" * 16
    got = lines(f'\n{{"signals": ["{md5}"], "content_id": "x"}}\n\n{{"signals": []}}\n')
    assert [n for n, _ in got] == [2, 4]
    assert got[0][1] == CheckQuery(signals=(md5,), content_id="x")


def test_a_bad_line_is_that_lines_error() -> None:
    got = dict(lines('{not json\n[1, 2]\n{"signals": "md5:00"}\n{"file": "/nonexistent.jpg"}\n'))
    assert all(isinstance(q, ItemError) for q in got.values())
    assert "not JSON" in got[1].message  # type: ignore[union-attr]
    assert "must be a JSON object" in got[2].message  # type: ignore[union-attr]
    assert "signals must be a list" in got[3].message  # type: ignore[union-attr]
    assert "/nonexistent.jpg" in got[4].message  # type: ignore[union-attr]


def test_a_file_line_is_hashed_here_or_sent(tmp_path: Path) -> None:
    image = tmp_path / "a.jpg"
    image.write_bytes(jpeg_bytes(synthetic_image(3)))
    line = json.dumps({"file": str(image), "report": False}) + "\n"
    [(_, hashed)] = lines(line)
    assert isinstance(hashed, CheckQuery)
    assert hashed.content is None
    assert [s.split(":")[0] for s in hashed.signals] == ["pdq", "phash", "md5", "sha256"]
    assert hashed.pdq_quality is not None
    [(_, sent)] = lines(line, send_content=True)
    assert isinstance(sent, CheckQuery)
    assert sent.content == image.read_bytes()


def test_an_overlong_line_is_one_error_and_the_next_line_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batch, "MAX_LINE", 64)
    md5 = "md5:" + "cd" * 16
    got = lines('{"signals": ["' + "x" * 500 + '"]}\n' + f'{{"signals": ["{md5}"]}}\n')
    assert [n for n, _ in got] == [1, 2]
    assert isinstance(got[0][1], ItemError)
    assert "longer than" in got[0][1].message
    assert got[1][1] == CheckQuery(signals=(md5,))


def test_chunks_are_cut_by_bytes_as_well_as_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "CHUNK_BYTES", 1000)
    big = [batch._Line(i, "", CheckQuery(content=b"x" * 400)) for i in range(5)]
    assert [len(c) for c in batch._chunks(iter(big), 1000)] == [2, 2, 1]
    small = [batch._Line(i, "", CheckQuery(signals=("md5:" + "0" * 32,))) for i in range(5)]
    assert [len(c) for c in batch._chunks(iter(small), 2)] == [2, 2, 1]
