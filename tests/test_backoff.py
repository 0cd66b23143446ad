"""The shared backoff schedule: growth, cap, jitter bounds, reset."""

import random

from kvs_pool.backoff import Backoff, BackoffPolicy


def test_schedule_doubles_from_initial_to_cap_without_jitter() -> None:
    policy = BackoffPolicy(initial_s=5, factor=2, max_s=60, jitter_low=1.0, jitter_high=1.0)
    backoff = Backoff(policy)
    assert [backoff.next_delay() for _ in range(6)] == [5, 10, 20, 40, 60, 60]


def test_jitter_stays_within_bounds() -> None:
    backoff = Backoff(BackoffPolicy(), rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(200)]
    for n, delay in enumerate(delays, start=1):
        base = min(5 * 2 ** (n - 1), 60)
        assert 0.8 * base <= delay <= 1.2 * base
    assert len({round(d, 6) for d in delays[10:]}) > 100  # really jittered, not constant


def test_reset_starts_over() -> None:
    backoff = Backoff(BackoffPolicy(jitter_low=1.0, jitter_high=1.0))
    for _ in range(4):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 5
