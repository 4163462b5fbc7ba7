"""Shared fixtures: the conformance vectors folder and a small signed log.

The vectors live in ``../shared/vectors`` beside the checkout (never copied
here). Without the folder, tests that need it skip with a reason, except
under ``CI=true`` where a missing folder is a failure: CI must run them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hashlist.note import COSIGNATURE_V1, Signer
from hashlist.trustroot import TrustRoot

VECTORS = Path(
    os.environ.get("HASHLIST_VECTORS", Path(__file__).resolve().parents[2] / "shared" / "vectors")
)


@pytest.fixture(scope="session")
def vectors() -> Path:
    if not VECTORS.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"conformance vectors missing at {VECTORS}; CI must run them")
        pytest.skip(f"conformance vectors not found at {VECTORS} (../shared/vectors)")
    return VECTORS


HUB = "hub.example"


class Keys:
    """A hub's log and timestamp keys and two witnesses, freshly generated."""

    def __init__(self) -> None:
        self.log = Signer.generate(f"{HUB}/log")
        self.timestamp = Signer.generate(f"{HUB}/timestamp", COSIGNATURE_V1)
        self.witnesses = [Signer.generate(f"witness{i}.example", COSIGNATURE_V1) for i in (1, 2)]

    def trust(self, *, quorum: int = 0, max_age: int = 3600, skew: int = 300) -> TrustRoot:
        return TrustRoot(
            version=1,
            hub=HUB,
            log_keys=(self.log.verifier(),),
            timestamp_key=self.timestamp.verifier(),
            witness_keys=tuple(w.verifier() for w in self.witnesses),
            witness_quorum=quorum,
            max_checkpoint_age_seconds=max_age,
            max_clock_skew_seconds=skew,
        )


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support import make_pki

    return make_pki(tmp_path_factory.mktemp("pki"))
