"""The replica's listed videos: their frames, and which videos hold a frame.

Table (migration 3): ``video_frames`` (list, frame hex, vpdq signal), keyed so
that the videos of a list holding a frame are one index range, and indexed by
video for a video's own frames. Only verified frame sets are
written: ``hashlist.delta`` and ``hashlist.snapshot`` check each against the
signal that names it before the node sees it.

The near index holds each distinct frame of a list once. ``add`` and
``remove`` run inside the step's transaction and return the frames that
entered or left the list (a frame shared by two videos leaves with the last
of them), which the step passes on to the index as ``frame:<hex>`` changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

from hashlist.vpdq import FrameSet

_HAS_FRAME = "SELECT 1 FROM video_frames WHERE list_id=? AND frame=? LIMIT 1"
_PAGE = 500  # bound parameters per query, well under SQLite's limit


def add(db: sqlite3.Connection, list_id: str, videos: Sequence[FrameSet]) -> list[str]:
    """Write the frame sets of newly listed videos; returns the frames new to the list."""
    new: dict[str, None] = {}
    for video in videos:
        for code in video.codes:
            if code not in new and db.execute(_HAS_FRAME, (list_id, code)).fetchone() is None:
                new[code] = None
        db.executemany(
            "INSERT INTO video_frames VALUES(?,?,?)",
            ((list_id, code, video.signal) for code in video.codes),
        )
    return list(new)


def remove(db: sqlite3.Connection, list_id: str, signals: Sequence[str]) -> list[str]:
    """Forget retracted videos; returns the frames no other video of the list holds."""
    touched: dict[str, None] = {}
    for signal in signals:
        frames = db.execute(
            "SELECT frame FROM video_frames WHERE list_id=? AND signal=?", (list_id, signal)
        ).fetchall()
        touched.update(dict.fromkeys(f for (f,) in frames))
        db.execute("DELETE FROM video_frames WHERE list_id=? AND signal=?", (list_id, signal))
    return [f for f in touched if db.execute(_HAS_FRAME, (list_id, f)).fetchone() is None]


def clear(db: sqlite3.Connection, list_id: str) -> None:
    """Forget every video of the list (its rows are being replaced)."""
    db.execute("DELETE FROM video_frames WHERE list_id=?", (list_id,))


def distinct_frames(db: sqlite3.Connection, list_id: str, chunk: int) -> Iterator[list[str]]:
    cursor = db.execute(
        "SELECT DISTINCT frame FROM video_frames WHERE list_id=? ORDER BY frame", (list_id,)
    )
    while rows := cursor.fetchmany(chunk):
        yield [r[0] for r in rows]


def videos_with(
    db: sqlite3.Connection, list_id: str, frames: Sequence[str]
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for at in range(0, len(frames), _PAGE):
        part = frames[at : at + _PAGE]
        marks = ",".join("?" * len(part))
        out += db.execute(
            f"SELECT frame, signal FROM video_frames WHERE list_id=? AND frame IN ({marks})",  # noqa: S608
            (list_id, *part),
        ).fetchall()
    return out


def codes(db: sqlite3.Connection, list_id: str, signal: str) -> list[str]:
    rows = db.execute(
        "SELECT frame FROM video_frames WHERE list_id=? AND signal=?", (list_id, signal)
    ).fetchall()
    return [r[0] for r in rows]
