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
