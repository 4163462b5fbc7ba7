"""Near-matching videos at the node: Meta's vPDQ comparison against listed videos.

A listed video is its frame set (``hashlist.vpdq``). The node keeps the
distinct frames of each followed list in a ``NearIndex`` (a frame once per
list, however many of its videos hold it) and, in the replica, which videos
hold each frame (``node.store.videos``). A query is a video's frames (hashed
on the node from its bytes, or sent precomputed), reduced to its distinct
frames of quality at least ``frame_quality``. For each query frame the index
finds every listed frame within ``frame_distance`` (exactly: multi-index
hashing), the replica names the videos holding them, and for each such
video V:

- query match = distinct query frames near some frame of V / distinct query frames;
- target match = frames of V near some query frame / frames of V.

These are exactly Meta's brute-force figures (``hashlist.vpdq.match_percentages``),
computed only for the videos that share a near frame with the query; any
other video scores 0 on both. V matches when both reach the list's thresholds.

The caller holds the matcher's shared lock across ``search`` (one state).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from hashlist.errors import InputError
from hashlist.vpdq import (
    FRAME_DISTANCE,
    FRAME_QUALITY,
    QUERY_MATCH_PERCENT,
    TARGET_MATCH_PERCENT,
    VpdqFrame,
    distinct_good,
)
from node.index import NearIndex
from node.store import ReplicaReader

MAX_QUERY_FRAMES = 20_000
"""Distinct good frames of one query at most (5.5 hours at one frame per second)."""


@dataclass(frozen=True)
class VideoSettings:
    frame_distance: int = FRAME_DISTANCE
    frame_quality: int = FRAME_QUALITY
    target_match_percent: float = TARGET_MATCH_PERCENT
    query_match_percent: float = QUERY_MATCH_PERCENT
    per_list: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """Per list id: (target, query) match percent, instead of the two above."""

    def thresholds(self, list_id: str) -> tuple[float, float]:
        default = (self.target_match_percent, self.query_match_percent)
        return self.per_list.get(list_id, default)


@dataclass(frozen=True, slots=True)
class VideoMatch:
    list_id: str
    signal: str
    query_match_percent: float
    target_match_percent: float
    unmatched: int
    """Frames of the listed video that no query frame matched."""


def query_codes(frames: Sequence[VpdqFrame], settings: VideoSettings) -> list[str]:
    """The distinct good frames of a query video, or ``InputError`` if it has too many."""
    codes = distinct_good(frames, settings.frame_quality)
    if len(codes) > MAX_QUERY_FRAMES:
        raise InputError(
            f"a video query has at most {MAX_QUERY_FRAMES:,} distinct frames of quality "
            f"{settings.frame_quality} or more, got {len(codes):,}: hash it at fewer frames "
            "per second"
        )
    return codes


class VideoIndex:
    """The listed frames of every followed list, and the comparison (see the module)."""

    def __init__(
        self, lists: Sequence[str], settings: VideoSettings, *, buffer_size: int, background: bool
    ) -> None:
        self.settings = settings
        self.frames = NearIndex(256, settings.frame_distance, lists, buffer_size=buffer_size,
                                background=background)  # fmt: skip

    def __len__(self) -> int:
        return len(self.frames)

    def bind(self, exclusive: Callable[[], AbstractContextManager[object]]) -> None:
        self.frames.bind(exclusive)

    def load(self, list_id: str, chunks: Iterable[Sequence[str]]) -> None:
        self.frames.load(list_id, chunks)

    def drop_list(self, list_id: str) -> None:
        self.frames.drop_list(list_id)

    def apply(self, list_id: str, added: Sequence[str], removed: Sequence[str]) -> None:
        self.frames.apply(list_id, added, removed)

    def search(
        self, queries: Sequence[Sequence[str]], replica: ReplicaReader
    ) -> list[list[VideoMatch]]:
        """Per query (its distinct good frames): every listed video it matches, best first."""
        flat = [(q, code) for q, codes in enumerate(queries) for code in codes]
        near = self.frames.search_many([code for _, code in flat]) if flat else []
        # per query, per list: listed frame -> the query frames near it
        hits: list[dict[str, dict[str, set[str]]]] = [defaultdict(lambda: defaultdict(set))
                                                       for _ in queries]  # fmt: skip
        for (q, code), found in zip(flat, near, strict=True):
            for list_id, frame, _ in found:
                hits[q][list_id][frame].add(code)
        return [self._videos(hits[q], len(codes), replica) for q, codes in enumerate(queries)]

    def _videos(
        self, by_list: Mapping[str, Mapping[str, set[str]]], size: int, replica: ReplicaReader
    ) -> list[VideoMatch]:
        out = []
        for list_id, frames in by_list.items():
            holding: dict[str, list[str]] = defaultdict(list)
            for frame, signal in replica.videos_with(list_id, list(frames)):
                holding[signal].append(frame)
            sizes = replica.video_sizes(list_id, list(holding))
            target_min, query_min = self.settings.thresholds(list_id)
            for signal, listed in holding.items():
                total = sizes.get(signal)
                if not total:
                    continue  # retracted while we looked: the shared lock makes this moot
                matched_queries = set().union(*(frames[f] for f in listed))
                target = 100.0 * len(listed) / total
                query = 100.0 * len(matched_queries) / size
                if target >= target_min and query >= query_min:
                    out.append(VideoMatch(list_id, signal, query, target, total - len(listed)))
        out.sort(key=lambda m: (-m.target_match_percent, -m.query_match_percent, m.signal))
        return out
