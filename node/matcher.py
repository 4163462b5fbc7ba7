"""Matching uploads against the replica: the node's Python API.

``Matcher.check`` takes content bytes (hashed here, see ``hashlist.hashing``)
or precomputed signals and answers every listed hash that matches:

- every signal, perceptual ones included, is looked up exactly in SQLite;
- ``pdq`` within ``pdq_radius`` and ``phash`` within ``phash_radius`` are
  searched in the near index (``node.index``), except a ``pdq`` whose quality
  is below ``pdq_min_quality``, which the answer notes.

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
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path

from hashlist.clock import Clock
from hashlist.errors import InputError
from hashlist.hashing import hash_bytes
from hashlist.model import CheckResult, Match, Report, Verdict
from hashlist.signals import DEFAULT_MAX_PIXELS, PDQ_MIN_QUALITY, SignalKind, canonical
from node.config import outbox_path
from node.index import NearIndex
from node.metrics import NodeMetrics
from node.outbox import Outbox, new_id
from node.rwlock import RWLock
from node.store import ReplicaReader, SqliteReplicaReader

log = logging.getLogger(__name__)
_LOAD_CHUNK = 100_000
_MAX_SIGNALS = 64


@dataclass(frozen=True)
class MatchSettings:
    pdq_radius: int = 31
    phash_radius: int = 8
    pdq_min_quality: int = PDQ_MIN_QUALITY
    index_buffer: int = 4096
    background_merge: bool = True
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    max_concurrent_decodes: int = 2


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

    def load(self) -> None:
        """Build the near indexes from the replica (start-up; nothing is rehashed)."""
        with self.lock.write():
            for list_id in self.lists:
                self._load_list(list_id)
        counts = ", ".join(f"{k.label} {len(i)}" for k, i in self.indexes.items())
        log.info("near-match index loaded from the replica: %s", counts)

    def _load_list(self, list_id: str) -> None:
        for kind, index in self.indexes.items():
            index.load(list_id, self.replica.digests(list_id, kind.label, _LOAD_CHUNK))

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

    # --- the API ---

    def check(
        self,
        *,
        content: bytes | None = None,
        signals: Sequence[str] = (),
        pdq_quality: int | None = None,
        content_id: str = "",
        report: bool = True,
    ) -> CheckResult:
        """Every listed hash the content matches; each match is reported to the hub once
        per content id, unless ``report`` is false (a dry run)."""
        started = time.monotonic()
        notes: list[str] = []
        if content is not None:
            with self._decodes:
                hashes = hash_bytes(
                    content, "the content", max_pixels=self.settings.max_image_pixels
                )
            query: list[str] = list(hashes.signals)
            pdq_quality = hashes.pdq_quality
            if hashes.pdq is None:
                notes.append("not an image: matched by md5 and sha256 only")
        else:
            if not signals:
                raise InputError("give the content's bytes or at least one signal")
            if len(signals) > _MAX_SIGNALS:
                raise InputError(f"at most {_MAX_SIGNALS} signals per check")
            query = list(dict.fromkeys(canonical(s) for s in signals))
        if pdq_quality is not None and not 0 <= pdq_quality <= 100:
            raise InputError(f"pdq quality is 0..100, got {pdq_quality}")
        near_pdq = pdq_quality is None or pdq_quality >= self.settings.pdq_min_quality
        if not near_pdq and any(s.startswith("pdq:") for s in query):
            notes.append(f"pdq quality {pdq_quality} is below {self.settings.pdq_min_quality}: "
                         "pdq matched exactly only, other signals as usual")  # fmt: skip
        found = self._find(query, near_pdq)
        now = self.clock.now()
        key = self.outbox.content_key(content_id)
        matches = [Match(lst, sig, q, d, v, new_id()) for lst, sig, q, d, v in found]
        if matches and report:
            filed = self.outbox.add_reports(
                [Report(m.report_id, m.list_id, m.signal, m.distance, m.version, key, now)
                 for m in matches], now,
            )  # fmt: skip
            matches = [
                replace(m, report_id=r.report_id) for m, r in zip(matches, filed, strict=True)
            ]
            self.on_report()
        elif matches:
            matches = [replace(m, report_id="") for m in matches]  # a dry run files nothing
            notes.append("dry run: nothing reported")
        for m in matches:
            self.metrics.matches.labels(m.list_id, m.signal.partition(":")[0]).inc()
        self.metrics.check_seconds.observe(time.monotonic() - started)
        if matches:
            shown = ", ".join(f"{m.list_id}/{m.signal[:20]}.. d={m.distance}" for m in matches)
            log.info("check: %d match(es)%s: %s", len(matches), "" if report else " (dry run)",
                     shown)  # fmt: skip
        return CheckResult(tuple(matches), tuple(query), tuple(notes))

    def _find(self, query: Sequence[str], near_pdq: bool) -> list[tuple[str, str, str, int, int]]:
        version_of = self.replica.version_of
        found: dict[tuple[str, str], tuple[str, str, str, int, int]] = {}
        with self.lock.read():
            for signal in query:
                for list_id in self.lists:
                    version = version_of(list_id, signal)
                    if version is not None:
                        found[(list_id, signal)] = (list_id, signal, signal, 0, version)
            for signal in query:
                kind_label, _, digest = signal.partition(":")
                kind = SignalKind.from_label(kind_label)
                if kind not in self.indexes or (kind is SignalKind.PDQ and not near_pdq):
                    continue
                for list_id, code, d in self.indexes[kind].search(digest):
                    listed = f"{kind_label}:{code}"
                    if d == 0 or (list_id, listed) in found:
                        continue
                    version = version_of(list_id, listed)
                    if version is not None:
                        found[(list_id, listed)] = (list_id, listed, signal, d, version)
        return sorted(found.values(), key=lambda m: (m[3], m[0], m[1]))

    def verdict(self, report_id: str, verdict: str) -> Verdict:
        v = self.outbox.add_verdict(report_id.strip().lower(), verdict, self.clock.now())
        self.on_report()
        log.info("verdict %s on report %s", verdict, report_id)
        return v

    def close(self) -> None:
        self.outbox.close()
        self.replica.close()
