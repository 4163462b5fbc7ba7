"""Domain types of the operator's API (what Admin calls return), free of protobuf."""

from __future__ import annotations

from dataclasses import dataclass

from hashlist.vpdq import VpdqFrame


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What one publication did: versions ``first_version..version`` (none if equal to
    the list's size before), with at most ``SHOWN_LEFT_OUT`` of each kind left out shown."""

    version: int
    added: int
    removed: int
    already_listed: tuple[str, ...]
    not_listed: tuple[str, ...]
    checkpoint_note: bytes
    replayed: bool = False
    first_version: int = 0
    already_listed_count: int = 0
    not_listed_count: int = 0

    @property
    def versions(self) -> str:
        """``version 7``, or ``versions 3..9``: a publication is as many leaves as the
        hub's leaf size needed, and ``version`` is the last of them."""
        if self.first_version >= self.version:
            return f"version {self.version}"
        return f"versions {self.first_version}..{self.version}"


SHOWN_LEFT_OUT = 1000
"""How many additions already listed (and removals not listed) a result names."""


@dataclass(frozen=True, slots=True)
class ListStatus:
    list_id: str
    size: int
    hashes: int
    root: bytes
    state_digest: bytes
    cosigned_at: int
    partners: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CertificateSeen:
    serial: str
    not_after: int
    revoked: bool
    last_seen: int


@dataclass(frozen=True, slots=True)
class PartnerList:
    list_id: str
    version: int  # what its node last reported verified; 0: nothing yet
    lag: int
    reported_at: int


@dataclass(frozen=True, slots=True)
class Partner:
    name: str
    certificates: tuple[CertificateSeen, ...]
    lists: tuple[PartnerList, ...]
    last_seen: int


VERDICTS = ("removed", "not_violating")
"""What a platform may decide about a match."""


@dataclass(frozen=True, slots=True)
class Report:
    """One match, as a node reports it to the hub (no image, no raw content id)."""

    report_id: str
    list_id: str
    signal: str
    distance: int
    version: int
    content_key: str
    matched_at: int


@dataclass(frozen=True, slots=True)
class Verdict:
    """The platform's decision on a reported match."""

    verdict_id: str
    report_id: str
    verdict: str
    decided_at: int


@dataclass(frozen=True, slots=True)
class HashMatches:
    """The hub's view of one listed hash: who matched it and what they decided."""

    signal: str
    partners: tuple[tuple[str, int], ...]
    removed: int
    not_violating: int
    review: bool


@dataclass(frozen=True, slots=True)
class Match:
    """One answer line of a node's check."""

    list_id: str
    signal: str
    query_signal: str
    distance: int
    """Bits apart; for a listed video, how many of its frames no query frame matched."""
    version: int
    report_id: str
    query_match_percent: float = 0.0
    """For a listed video: the share of the query's distinct good frames that matched."""
    target_match_percent: float = 0.0
    """For a listed video: the share of its frames that some query frame matched."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    matches: tuple[Match, ...]
    signals: tuple[str, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CheckQuery:
    """One check: the content's bytes (hashed on the node) or its precomputed signals."""

    content: bytes | None = None
    signals: tuple[str, ...] = ()
    pdq_quality: int | None = None
    """Quality of the pdq signal among ``signals``, if known (None: treated as enough)."""
    content_id: str = ""
    """The platform's id for the content; leaves the node only as a keyed hash."""
    report: bool = True
    """False: a dry run, nothing is reported to the hub."""
    vpdq: tuple[VpdqFrame, ...] = ()
    """A video's frames hashed elsewhere (``hashlist hash``), near-matched as a video."""


@dataclass(frozen=True, slots=True)
class ItemError:
    """Why one item of a batch check got no answer (the others are unaffected)."""

    code: str
    """A gRPC status code name, e.g. ``INVALID_ARGUMENT``."""
    message: str


MAX_BATCH_ITEMS = 10_000
"""Most checks in one batch call (gRPC ``CheckBatch``, REST ``/v1/check-batch``)."""
