"""Token buckets: a burst, then the rate; one key never drains another's."""

from __future__ import annotations

from server.ratelimit import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    limit = TokenBuckets(rate=10, burst=20, clock=clock)
    assert limit.take("yubo", 20)
    assert not limit.take("yubo", 1)  # the burst is spent
    assert limit.take("facebook", 20)  # another partner is not affected
    clock.now += 0.5  # five tokens back
    assert not limit.take("yubo", 6)
    assert limit.take("yubo", 5)
    clock.now += 100  # never more than the burst
    assert not limit.take("yubo", 21)
    assert limit.take("yubo", 20)


def test_the_keys_kept_are_bounded() -> None:
    clock = Clock()
    limit = TokenBuckets(rate=1, burst=2, clock=clock, max_keys=3)
    for i in range(1000):  # a flood of new addresses, each spending a token
        limit.take(f"10.0.{i // 256}.{i % 256}", 1)
        assert len(limit._buckets) <= 3


def test_full_buckets_are_forgotten_before_a_drained_one() -> None:
    clock = Clock()
    limit = TokenBuckets(rate=1, burst=2, clock=clock, max_keys=3)
    assert limit.take("abuser", 2)  # drained, and now the least recently used
    for name in ("a", "b", "c"):  # full buckets: forgetting them loses nothing
        assert limit.take(name, 0)
    assert not limit.take("abuser", 1)  # still drained: not forgotten, not refilled
