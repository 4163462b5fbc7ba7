"""``hashlist node check --batch FILE``: many checks in a few calls, for backfills.

Input, one JSON object per line (``-`` reads standard input): a check request
as in the JSON API (``signals``, ``pdq_quality``, ``content_id``, ``report``,
or ``content`` in base64), or ``{"file": PATH, ...}``, hashed here so only
the hashes are sent (``--send-content`` sends the bytes instead). Blank lines
are skipped.

Output, one JSON line per input line and in the same order:
``{"line": N, "content_id": ..., "matches": [...], "signals": [...],
"notes": [...]}``, or ``{"line": N, "content_id": ..., "error": {"code",
"message"}}`` for a line that is not a valid request, a file that cannot be
hashed, or an item the node refused. A bad line never stops the rest.
Progress goes to standard error. Lines are sent ``--batch-size`` at a time
through the Matcher's ``CheckBatch``, so memory stays bounded whatever the
file's length.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from hashlist.errors import HashlistError, InputError
from hashlist.hashing import hash_file
from hashlist.model import CheckQuery, CheckResult, ItemError
from hashlist.progress import progress
from node.jsonwire import error_to_json, query_from_json, result_to_json
from node.service import MatcherClient

MAX_LINE = 96 * 1024 * 1024
"""Longest input line read, in characters (a base64 image of 64 MiB fits)."""
CHUNK_BYTES = 48 * 1024 * 1024
"""Most content and signal bytes in one call: below the Matcher's 64 MiB message
limit, so a batch of large images is cut into more calls, never refused whole."""


@dataclasses.dataclass(frozen=True)
class _Line:
    number: int
    content_id: str
    query: CheckQuery | ItemError


def run_batch(
    client: MatcherClient, source: str, *, batch_size: int, send_content: bool, out: IO[str]
) -> int:
    """Check every line of ``source``; returns how many lines got an error."""
    stream = sys.stdin if source == "-" else _open(source)
    # Only a regular file can be read twice: counting a pipe's lines would drain it.
    total = _count_lines(Path(source)) if source != "-" and Path(source).is_file() else 0
    failed = 0
    try:
        with progress(total, "checked", "lines") as bar:
            for chunk in _chunks(_lines(stream, send_content), batch_size):
                queries = [line.query for line in chunk if isinstance(line.query, CheckQuery)]
                answers = iter(client.check_batch(queries)) if queries else iter(())
                for line in chunk:
                    answer = line.query if isinstance(line.query, ItemError) else next(answers)
                    failed += isinstance(answer, ItemError)
                    print(json.dumps(_output(line, answer)), file=out, flush=False)
                out.flush()
                bar.advance(len(chunk))
    finally:
        if stream is not sys.stdin:
            stream.close()
    return failed


def _open(source: str) -> IO[str]:
    try:
        return open(source, encoding="utf-8")  # closed by run_batch
    except OSError as e:
        raise InputError(f"cannot read {source}: {e.strerror}") from e


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def _chunks(lines: Iterator[_Line], size: int) -> Iterator[list[_Line]]:
    """Runs of at most ``size`` lines and ``CHUNK_BYTES`` bytes (one line may be more)."""
    chunk: list[_Line] = []
    weight = 0
    for line in lines:
        q = line.query
        bytes_ = (
            len(q.content or b"") + sum(map(len, q.signals)) if isinstance(q, CheckQuery) else 0
        )
        if chunk and (len(chunk) == size or weight + bytes_ > CHUNK_BYTES):
            yield chunk
            chunk, weight = [], 0
        chunk.append(line)
        weight += bytes_
    if chunk:
        yield chunk


def _lines(stream: IO[str], send_content: bool) -> Iterator[_Line]:
    number = 0
    while text := stream.readline(MAX_LINE):
        number += 1
        if len(text) == MAX_LINE and not text.endswith("\n"):
            rest = text  # skip the remainder: one line, one answer
            while rest and not rest.endswith("\n"):
                rest = stream.readline(MAX_LINE)
            yield _Line(number, "", _refused(f"line {number}: longer than {MAX_LINE:,} bytes"))
            continue
        if text.strip():
            yield _parsed(number, text, send_content)


def _parsed(number: int, text: str, send_content: bool) -> _Line:
    where = f"line {number}"
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as e:
        return _Line(number, "", _refused(f"{where}: not JSON: {str(e)[:200]}"))
    content_id = obj.get("content_id", "") if isinstance(obj, dict) else ""
    content_id = content_id if isinstance(content_id, str) else ""
    try:
        if isinstance(obj, dict) and "file" in obj:
            obj = _from_file(dict(obj), where, send_content)
        return _Line(number, content_id, query_from_json(obj, where))
    except HashlistError as e:
        return _Line(number, content_id, _refused(str(e)))


def _from_file(obj: dict[str, Any], where: str, send_content: bool) -> dict[str, Any]:
    path = obj.pop("file")
    if not isinstance(path, str) or not path:
        raise InputError(f"{where}: file must be a path")
    if "signals" in obj or "content" in obj:
        raise InputError(f"{where}: give file, signals or content, one of them")
    if send_content:
        try:
            obj["content"] = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        except OSError as e:
            raise InputError(f"{where}: cannot read {path}: {e.strerror}") from e
        return obj
    hashes = hash_file(Path(path))  # a HashingError names the file
    obj["signals"] = list(hashes.signals)
    if hashes.pdq_quality is not None:
        obj["pdq_quality"] = hashes.pdq_quality
    return obj


def _refused(message: str) -> ItemError:
    return ItemError("INVALID_ARGUMENT", message)


def _output(line: _Line, answer: CheckResult | ItemError) -> dict[str, Any]:
    head: dict[str, Any] = {"line": line.number, "content_id": line.content_id}
    if isinstance(answer, ItemError):
        return {**head, "error": error_to_json(answer)}
    return {**head, **result_to_json(answer)}
