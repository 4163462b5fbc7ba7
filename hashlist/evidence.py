"""Split-view evidence: two checkpoints the hub signed that cannot both be true.

A hub that shows partner A one history and partner B another must sign two
checkpoints of one origin that are inconsistent. ``find_split_views`` looks
for such a pair among checkpoints gathered from nodes, witnesses and the
auditor's own view of the hub, and each pair found becomes a
``SplitViewEvidence`` that anyone holding the trust root can check offline
with ``verify_evidence``:

* the same size with two roots: the two signed notes are the whole proof;
* sizes m < n: the notes, plus the root at size m *of the larger tree* and a
  consistency proof from it to the larger checkpoint's root. The proof shows
  the larger tree's first m leaves have that root; it differs from the
  smaller checkpoint's root, so no single append-only log has both.

To prove a pair of different sizes one needs the larger tree's leaves: the
auditor has them for the hub's current view (``SignedTree``), so every
gathered checkpoint no larger than that view is decided. Pairs that cannot be
decided are returned as such, never guessed.

Pure: signed bytes and leaves in, typed results or typed errors out.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hashlist.checkpoint import Checkpoint, verify_checkpoint
from hashlist.errors import (
    BadProofError,
    InputError,
    OriginMismatchError,
    TrustRootError,
    VerificationError,
)
from hashlist.merkle import MerkleTree, hash_leaf, verify_consistency
from hashlist.trustroot import TrustRoot

FORMAT = "hashlist-split-view-evidence/v1"


@dataclass(frozen=True, slots=True)
class Sighting:
    """A signed checkpoint and where it was seen (a node, a witness, the hub)."""

    source: str
    note: bytes


@dataclass(frozen=True, slots=True)
class SplitViewEvidence:
    origin: str
    smaller: Sighting
    larger: Sighting
    root_in_larger: bytes  # the larger tree's root at the smaller size
    proof: tuple[bytes, ...]  # consistency from (smaller size, root_in_larger) to the larger

    def to_json(self) -> str:
        def b64(b: bytes) -> str:
            return base64.b64encode(b).decode()

        return json.dumps({
            "format": FORMAT, "origin": self.origin,
            "smaller": {"source": self.smaller.source, "note": self.smaller.note.decode()},
            "larger": {"source": self.larger.source, "note": self.larger.note.decode()},
            "root_in_larger": b64(self.root_in_larger),
            "proof": [b64(h) for h in self.proof],
        }, indent=2)  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> SplitViewEvidence:
        try:
            d = json.loads(text)
            if d.get("format") != FORMAT:
                raise InputError(f"not a {FORMAT} file")
            return cls(
                d["origin"],
                Sighting(d["smaller"]["source"], d["smaller"]["note"].encode()),
                Sighting(d["larger"]["source"], d["larger"]["note"].encode()),
                base64.b64decode(d["root_in_larger"], validate=True),
                tuple(base64.b64decode(h, validate=True) for h in d["proof"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise InputError(f"evidence file is not well formed: {e}") from e


@dataclass(frozen=True, slots=True)
class Comparison:
    consistent: tuple[Sighting, ...]  # verified, and agreeing with everything decidable
    split_views: tuple[SplitViewEvidence, ...]
    undecided: tuple[tuple[Sighting, Sighting], ...]  # need leaves nobody here has
    unsigned: tuple[tuple[Sighting, str], ...]  # not signed by the hub: prove nothing


class SignedTree:
    """The auditor's own view: every leaf of the hub's newest signed checkpoint."""

    def __init__(self, sighting: Sighting, leaves: Iterable[bytes], trust: TrustRoot) -> None:
        self.sighting = sighting
        self.checkpoint = _signed(sighting.note, trust)
        self.tree = MerkleTree(hash_leaf(leaf) for leaf in leaves)
        if (self.tree.size, self.tree.root()) != (self.checkpoint.size, self.checkpoint.root):
            raise BadProofError("the hub's leaves do not have the root of its signed checkpoint")


def find_split_views(
    sightings: Sequence[Sighting], trust: TrustRoot, view: SignedTree | None = None
) -> Comparison:
    """Every provable inconsistency among ``sightings`` (and ``view``); see the module doc."""
    good: list[tuple[Sighting, Checkpoint]] = []
    unsigned = []
    for s in sightings:
        try:
            good.append((s, _signed(s.note, trust)))
        except VerificationError as e:
            unsigned.append((s, f"{type(e).__name__}: {e}"))
    if view is not None:
        good.append((view.sighting, view.checkpoint))
    found: list[SplitViewEvidence] = []
    undecided: list[tuple[Sighting, Sighting]] = []
    blamed: set[int] = set()
    for i, (a, ca) in enumerate(good):
        for j in range(i + 1, len(good)):
            b, cb = good[j]
            (small, cs), (large, cl) = sorted([(a, ca), (b, cb)], key=lambda x: x[1].size)
            if cs.size == cl.size:
                if cs.root != cl.root:
                    found.append(SplitViewEvidence(cs.origin, small, large, cl.root, ()))
                    blamed |= {i, j}
            elif view is not None and large is view.sighting:
                tree = view.tree
                if tree.root(cs.size) != cs.root:
                    proof = tuple(tree.consistency_proof(cs.size)) if cs.size else ()
                    found.append(
                        SplitViewEvidence(cs.origin, small, large, tree.root(cs.size), proof)
                    )
                    blamed |= {i, j}
            elif view is None or cl.size > view.checkpoint.size:
                undecided.append((small, large))
    consistent = tuple(s for k, (s, _) in enumerate(good) if k not in blamed)
    return Comparison(consistent, tuple(found), tuple(undecided), tuple(unsigned))


def verify_evidence(evidence: SplitViewEvidence, trust: TrustRoot) -> str:
    """Check ``evidence`` with only the trust root; returns what it proves.

    Raises a ``VerificationError`` when it proves nothing: a note not signed
    by the hub's log key, other origins, or a proof that does not hold.
    """
    small = _signed(evidence.smaller.note, trust)
    large = _signed(evidence.larger.note, trust)
    if not small.origin == large.origin == evidence.origin:
        raise BadProofError("the two checkpoints are not of the evidence's origin")
    if small.size > large.size:
        raise BadProofError("the 'smaller' checkpoint is larger than the 'larger' one")
    if small.size == large.size:
        if small.root == large.root:
            raise BadProofError("the two checkpoints have the same root: no split view")
        return (f"{small.origin}: the hub signed two different roots for size {small.size} "
                f"(seen by {evidence.smaller.source} and {evidence.larger.source})")  # fmt: skip
    verify_consistency(small.size, large.size, evidence.proof, evidence.root_in_larger, large.root)
    if evidence.root_in_larger == small.root:
        raise BadProofError("the smaller checkpoint is a prefix of the larger: no split view")
    return (f"{small.origin}: the hub signed size {small.size} (seen by "
            f"{evidence.smaller.source}) and size {large.size} (seen by "
            f"{evidence.larger.source}), and the latter's first {small.size} leaves have "
            f"another root: two histories")  # fmt: skip


def _signed(note: bytes, trust: TrustRoot) -> Checkpoint:
    # Only the log key matters here: the hub's own signature is what binds it.
    # Witness quorum and freshness are a node's policy, not part of the proof.
    log_only = dataclasses.replace(trust, witness_quorum=0)
    origin = note.split(b"\n", 1)[0].decode("utf-8", "replace")
    try:
        trust.list_of(origin)
    except TrustRootError as e:
        raise OriginMismatchError(str(e)) from e
    return verify_checkpoint(note, log_only, origin).checkpoint
