"""Near-matching videos at the node: Meta's vPDQ comparison against listed videos.

A listed video is its frame set (``hashlist.vpdq``). The node keeps the
distinct frames of each followed list in a ``NearIndex`` (a frame once per
list, however many of its videos hold it) and, in the replica, which videos
hold each frame (``node.store.videos``). A query is a video's frames (hashed
on the node from its bytes, or sent precomputed), reduced to its distinct
frames of quality at least ``frame_quality``. For each query frame the index
finds every listed frame within ``frame_distance`` (exactly: multi-index
hashing), the replica names the videos holding them (the candidates, as
Meta's README suggests), and each candidate V is compared with the query by
Meta's brute-force figures (``hashlist.vpdq_match``) on V's own frames:

- query match = distinct query frames near some frame of V / distinct query frames;
- target match = frames of V near some query frame / frames of V.

Any other video shares no near frame and scores 0 on both. V matches when
both reach the list's thresholds.

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
from hashlist.vpdq_match import match_percentages
from node.index import NearIndex
from node.store import ReplicaReader

MAX_QUERY_FRAMES = 20_000
"""Distinct good frames of one query at most (5.5 hours at one frame per second)."""
MAX_HITS = 1_000_000
"""Listed frames near a query's frames, counted with repeats, after which the search
for candidate videos stops (the answer says so): a query of a static scene against a
listed slideshow would otherwise cost gigabytes."""
_CHUNK = 256  # query frames per index search: bounds the hits held at once


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
    ) -> list[tuple[list[VideoMatch], bool]]:
        """Per query (its distinct good frames): every listed video it matches, best first,
        and whether the candidate search stopped at its hit budget."""
        return [self._search(codes, replica) for codes in queries]

    def _search(
        self, codes: Sequence[str], replica: ReplicaReader
    ) -> tuple[list[VideoMatch], bool]:
        # 1. Candidates: the listed frames near some query frame, found in chunks so
        # that a slideshow of near-identical frames costs bounded memory, up to a budget.
        near: dict[str, set[str]] = defaultdict(set)
        hits, cut = 0, False
        for at in range(0, len(codes), _CHUNK):
            for found in self.frames.search_many(codes[at : at + _CHUNK]):
                hits += len(found)
                for list_id, frame, _ in found:
                    near[list_id].add(frame)
            if hits > MAX_HITS:
                cut = at + _CHUNK < len(codes)
                break
        # 2. Each candidate video compared as Meta does, on its own frames.
        out = []
        for list_id, frames in near.items():
            target_min, query_min = self.settings.thresholds(list_id)
            videos = sorted({signal for _, signal in replica.videos_with(list_id, sorted(frames))})
            for signal in videos:
                listed = replica.video_codes(list_id, signal)
                distance = self.settings.frame_distance
                query, target = match_percentages(codes, listed, distance=distance)
                if listed and target >= target_min and query >= query_min:
                    unmatched = len(listed) - round(len(listed) * target / 100)
                    out.append(VideoMatch(list_id, signal, query, target, unmatched))
        out.sort(key=lambda m: (-m.target_match_percent, -m.query_match_percent, m.signal))
        return out, cut
