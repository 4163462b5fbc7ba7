"""Matching uploads against the replica: the node's Python API.

``Matcher.check`` takes content bytes (hashed here, see ``hashlist.hashing``)
or precomputed signals and answers every listed hash that matches:

- every signal, perceptual ones included, is looked up exactly in SQLite;
- ``pdq`` within ``pdq_radius`` and ``phash`` within ``phash_radius`` are
  searched in the near index (``node.index``), except a ``pdq`` whose quality
  is below ``pdq_min_quality``, which the answer notes;
- a video's frames (hashed here, or sent as ``vpdq``) are compared with the
  listed videos by Meta's vPDQ algorithm (``node.videos``).

Each match becomes a report in the outbox (``node.outbox``) before the answer
is returned. The index and the replica change together: the ``Matcher`` is
the replica's ``ReplicaObserver`` and its readers-writer lock is held
exclusively across each commit, shared across each search and its version
lookups, so a retracted hash stops matching in the step that retracts it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path

from hashlist.clock import Clock
from hashlist.errors import HashlistError, InputError
from hashlist.hashing import hash_bytes
from hashlist.model import CheckQuery, CheckResult, Match, Report, Verdict
from hashlist.signals import DEFAULT_MAX_PIXELS, PDQ_MIN_QUALITY, SignalKind, canonical
from hashlist.video import VideoLimits
from hashlist.vpdq import FrameSet, VpdqFrame
from node.config import outbox_path
from node.index import NearIndex
from node.metrics import NodeMetrics
from node.outbox import Outbox, new_id
from node.rwlock import RWLock
from node.store import FRAME_PREFIX, ReplicaReader, SqliteReplicaReader
from node.videos import MAX_HITS, VideoIndex, VideoSettings, query_codes

log = logging.getLogger(__name__)
_LOAD_CHUNK = 100_000
_MAX_SIGNALS = 64


_Found = tuple[str, str, str, int, int, float, float]
"""(list id, listed signal, the query's signal it matched, distance, version listed in,
query and target match percent of a video)."""


@dataclass
class _Prepared:
    query: list[str]
    near_pdq: bool
    notes: list[str]
    video: list[str]  # a video's distinct good frames; empty for anything else


@dataclass(frozen=True)
class MatchSettings:
    pdq_radius: int = 31
    phash_radius: int = 8
    pdq_min_quality: int = PDQ_MIN_QUALITY
    index_buffer: int = 4096
    background_merge: bool = True
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    max_concurrent_decodes: int = 2
    video: VideoSettings = field(default_factory=VideoSettings)
    video_limits: VideoLimits = field(default_factory=VideoLimits)


def open_matcher(
    database: Path, lists: Sequence[str], clock: Clock, settings: MatchSettings
) -> Matcher:
    """The Matcher of the node whose replica is ``database`` (which must exist: open the
    ``SqliteNodeStore`` first), with its outbox file beside it."""
    outbox = Outbox(outbox_path(database), legacy=database)
    return Matcher(SqliteReplicaReader(database), outbox, lists, clock, settings)


class Matcher:
    def __init__(
        self,
        replica: ReplicaReader,
        outbox: Outbox,
        lists: Sequence[str],
        clock: Clock,
        settings: MatchSettings,
    ) -> None:
        """``replica``: a read-only view of the node's replica; the Matcher closes both."""
        self.replica, self.outbox = replica, outbox
        self.lists, self.clock, self.settings = tuple(lists), clock, settings
        self.lock = RWLock()
        # Decoding is what costs memory: at most this many at once, the rest wait.
        self._decodes = threading.BoundedSemaphore(settings.max_concurrent_decodes)
        self.on_report: Callable[[], None] = lambda: None
        self.metrics = NodeMetrics()  # the daemon's, once it serves them
        radii = {SignalKind.PDQ: settings.pdq_radius, SignalKind.PHASH: settings.phash_radius}
        self.indexes = {
            kind: NearIndex(kind.nbytes * 8, radius, self.lists, buffer_size=settings.index_buffer,
                            background=settings.background_merge)
            for kind, radius in radii.items()
        }  # fmt: skip
        for index in self.indexes.values():
            index.bind(self.lock.write)
        self.videos = VideoIndex(self.lists, settings.video, buffer_size=settings.index_buffer,
                                 background=settings.background_merge)  # fmt: skip
        self.videos.bind(self.lock.write)

    def load(self) -> None:
        """Build the near indexes from the replica (start-up; nothing is rehashed)."""
        with self.lock.write():
            for list_id in self.lists:
                self._load_list(list_id)
        counts = ", ".join(f"{k.label} {len(i)}" for k, i in self.indexes.items())
        counts += f", video frames {len(self.videos)}"
        log.info("near-match index loaded from the replica: %s", counts)

    def _load_list(self, list_id: str) -> None:
        for kind, index in self.indexes.items():
            index.load(list_id, self.replica.digests(list_id, kind.label, _LOAD_CHUNK))
        self.videos.load(list_id, self.replica.video_frames(list_id, _LOAD_CHUNK))

    # --- ReplicaObserver ---

    def exclusive(self) -> AbstractContextManager[object]:
        return self.lock.write()

    def applied(
        self, list_id: str, changes: Sequence[tuple[list[str], list[str]]], *, replaced: bool
    ) -> None:
        if list_id not in self.lists:
            return
        if replaced:
            for index in self.indexes.values():
                index.drop_list(list_id)
            self.videos.drop_list(list_id)
            self._load_list(list_id)
            return
        for added, removed in changes:
            for kind, index in self.indexes.items():
                prefix = f"{kind.label}:"
                index.apply(
                    list_id,
                    [s[len(prefix) :] for s in added if s.startswith(prefix)],
                    [s[len(prefix) :] for s in removed if s.startswith(prefix)],
                )
            cut = len(FRAME_PREFIX)
            self.videos.apply(list_id, [s[cut:] for s in added if s.startswith(FRAME_PREFIX)],
                              [s[cut:] for s in removed if s.startswith(FRAME_PREFIX)])  # fmt: skip

    # --- the API ---

    def check(
        self,
        *,
        content: bytes | None = None,
        signals: Sequence[str] = (),
        pdq_quality: int | None = None,
        content_id: str = "",
        report: bool = True,
        vpdq: Sequence[VpdqFrame] = (),
    ) -> CheckResult:
        """Every listed hash the content matches; each match is reported to the hub once
        per content id, unless ``report`` is false (a dry run)."""
        started = time.monotonic()
        query = CheckQuery(content, tuple(signals), pdq_quality, content_id, report, tuple(vpdq))
        (answer,) = self.check_many([query])
        self.metrics.check_seconds.observe(time.monotonic() - started)
        if isinstance(answer, HashlistError):
            raise answer
        return answer

    def check_many(self, queries: Sequence[CheckQuery]) -> list[CheckResult | HashlistError]:
        """``check`` for each query, answered in order; bad input in one query is that
        query's error, not the batch's. One read-lock hold for the lookups and one outbox
        transaction for the reports of the whole batch."""
        prepared = [self._prepared(q) for q in queries]
        ready = [p for p in prepared if isinstance(p, _Prepared)]
        found = self._find_many(ready)
        now = self.clock.now()
        reports: list[Report] = []
        answers: list[CheckResult | HashlistError] = []
        for item, query in zip(prepared, queries, strict=True):
            if isinstance(item, HashlistError):
                answers.append(item)
                continue
            key = self.outbox.content_key(query.content_id)
            matches = [Match(lst, sig, q, d, v, new_id(), qp, tp)
                       for lst, sig, q, d, v, qp, tp in found[id(item)]]  # fmt: skip
            if query.report:
                reports += [Report(m.report_id, m.list_id, m.signal, m.distance, m.version,
                                   key, now) for m in matches]  # fmt: skip
            else:
                matches = [replace(m, report_id="") for m in matches]  # a dry run files nothing
                item.notes += ["dry run: nothing reported"] if matches else []
            answers.append(CheckResult(tuple(matches), tuple(item.query), tuple(item.notes)))
        if reports:
            filed = iter(self.outbox.add_reports(reports, now))
            answers = [self._filed(a, filed) if isinstance(a, CheckResult) else a
                       for a in answers]  # fmt: skip
            self.on_report()
        self._count(answers, queries)
        return answers

    @staticmethod
    def _filed(answer: CheckResult, filed: Iterator[Report]) -> CheckResult:
        """``answer`` with the report ids the outbox gave its matches (if it reports)."""
        if not answer.matches or not answer.matches[0].report_id:
            return answer
        return replace(answer, matches=tuple(replace(m, report_id=next(filed).report_id)
                                             for m in answer.matches))  # fmt: skip

    def _count(self, answers: Sequence[CheckResult | HashlistError],
               queries: Sequence[CheckQuery]) -> None:  # fmt: skip
        for answer, query in zip(answers, queries, strict=True):
            outcome = "refused" if isinstance(answer, HashlistError) else (
                "matched" if answer.matches else "no_match")  # fmt: skip
            self.metrics.checks.labels(outcome).inc()
            if not isinstance(answer, CheckResult) or not answer.matches:
                continue
            for m in answer.matches:
                self.metrics.matches.labels(m.list_id, m.signal.partition(":")[0]).inc()
            shown = ", ".join(f"{m.list_id}/{m.signal[:20]}.. d={m.distance}"
                              for m in answer.matches)  # fmt: skip
            log.info("check: %d match(es)%s: %s", len(answer.matches),
                     "" if query.report else " (dry run)", shown)  # fmt: skip

    def _prepared(self, q: CheckQuery) -> _Prepared | HashlistError:
        """The query's canonical signals and notes, or why it cannot be checked."""
        try:
            notes: list[str] = []
            query: list[str]
            pdq_quality = q.pdq_quality
            frames = q.vpdq
            if q.content is not None and (q.signals or q.vpdq):
                raise InputError("give the content's bytes or its signals, not both")
            if q.content is not None:
                with self._decodes:
                    hashes = hash_bytes(q.content, "the content", video=self.settings.video_limits,
                                        max_pixels=self.settings.max_image_pixels)  # fmt: skip
                query = list(hashes.signals)
                pdq_quality = hashes.pdq_quality
                frames = hashes.vpdq or ()
                if hashes.pdq is None and hashes.vpdq is None:
                    notes.append("neither an image nor a video: matched by md5 and sha256 only")
            else:
                if not q.signals and not q.vpdq:
                    raise InputError("give the content's bytes or at least one signal "
                                     "(or a video's vpdq frames)")  # fmt: skip
                if len(q.signals) > _MAX_SIGNALS:
                    raise InputError(f"at most {_MAX_SIGNALS} signals per check")
                query = list(dict.fromkeys(canonical(s) for s in q.signals))
            if pdq_quality is not None and not 0 <= pdq_quality <= 100:
                raise InputError(f"pdq quality is 0..100, got {pdq_quality}")
            video = query_codes(frames, self.settings.video)
        except HashlistError as e:
            return e
        near_pdq = pdq_quality is None or pdq_quality >= self.settings.pdq_min_quality
        if not near_pdq and any(s.startswith("pdq:") for s in query):
            notes.append(f"pdq quality {pdq_quality} is below {self.settings.pdq_min_quality}: "
                         "pdq matched exactly only, other signals as usual")  # fmt: skip
        if frames and not video:
            notes.append(f"no frame has pdq quality {self.settings.video.frame_quality} or "
                         "more: not near-matched as a video")  # fmt: skip
        return _Prepared(query, near_pdq, notes, video)

    def _find_many(self, items: Sequence[_Prepared]) -> dict[int, list[_Found]]:
        """Per item (by ``id``): its matches, nearest first."""
        version_of = self.replica.version_of
        found: dict[int, dict[tuple[str, str], _Found]] = {id(p): {} for p in items}
        with self.lock.read():
            for p in items:
                for signal in p.query:
                    for list_id in self.lists:
                        version = version_of(list_id, signal)
                        if signal.startswith("vpdq:") and p.video:
                            continue  # compared frame by frame below, as any other video
                        if version is not None:
                            whole = 100.0 if signal.startswith("vpdq:") else 0.0
                            found[id(p)][(list_id, signal)] = (list_id, signal, signal, 0, version,
                                                               whole, whole)  # fmt: skip
            for kind, index in self.indexes.items():
                asked = [(p, s) for p in items for s in p.query if s.startswith(f"{kind.label}:")
                         and (p.near_pdq or kind is not SignalKind.PDQ)]  # fmt: skip
                answers = index.search_many([s.partition(":")[2] for _, s in asked])
                for (p, signal), near in zip(asked, answers, strict=True):
                    for list_id, code, d in near:
                        listed = f"{kind.label}:{code}"
                        if d == 0 or (list_id, listed) in found[id(p)]:
                            continue
                        version = version_of(list_id, listed)
                        if version is not None:
                            found[id(p)][(list_id, listed)] = (list_id, listed, signal, d, version,
                                                               0.0, 0.0)  # fmt: skip
            self._find_videos([p for p in items if p.video], found)
        return {key: sorted(f.values(), key=lambda m: (m[3], m[0], m[1]))
                for key, f in found.items()}  # fmt: skip

    def _find_videos(
        self, items: Sequence[_Prepared], found: dict[int, dict[tuple[str, str], _Found]]
    ) -> None:
        """Add each item's video matches to ``found`` (caller holds the shared lock)."""
        answers = self.videos.search([p.video for p in items], self.replica)
        for p, (videos, cut) in zip(items, answers, strict=True):
            if cut:
                p.notes.append(f"this video's frames are near over {MAX_HITS:,} listed frames: "
                               "the search for listed videos stopped there")  # fmt: skip
            label = FrameSet.sampled(p.video).signal  # the query video, named as if listed
            for m in videos:
                version = self.replica.version_of(m.list_id, m.signal)
                if version is not None and (m.list_id, m.signal) not in found[id(p)]:
                    found[id(p)][(m.list_id, m.signal)] = (
                        m.list_id, m.signal, label, m.unmatched, version,
                        m.query_match_percent, m.target_match_percent,
                    )  # fmt: skip

    def verdict(self, report_id: str, verdict: str) -> Verdict:
        v = self.outbox.add_verdict(report_id.strip().lower(), verdict, self.clock.now())
        self.on_report()
        log.info("verdict %s on report %s", verdict, report_id)
        return v

    def close(self) -> None:
        self.outbox.close()
        self.replica.close()
