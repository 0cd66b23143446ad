"""Exponential backoff with jitter, shared by the supervisor (worker restarts) and sources
(reconnects).

Delay of the n-th consecutive failure (n >= 1)::

    delay = min(initial * factor ** (n - 1), maximum) * uniform(jitter_low, jitter_high)

The defaults follow the design: x2, jitter 80-120 %, 5 s -> 60 s. ``reset()`` after a stable
period makes the next failure wait ``initial`` again. The random source is injectable so tests
can check the schedule exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["BackoffPolicy", "Backoff"]


@dataclass(frozen=True)
class BackoffPolicy:
    """The numbers of a backoff schedule (all seconds)."""

    initial_s: float = 5.0
    factor: float = 2.0
    max_s: float = 60.0
    jitter_low: float = 0.8
    jitter_high: float = 1.2
    reset_after_s: float = 60.0

    def base_delay(self, failures: int) -> float:
        """Delay before jitter for the given count of consecutive failures (>= 1)."""
        exponent = max(failures, 1) - 1
        return min(self.initial_s * self.factor ** exponent, self.max_s)


@dataclass
class Backoff:
    """Counts consecutive failures and answers how long to wait before the next try."""

    policy: BackoffPolicy = field(default_factory=BackoffPolicy)
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self) -> float:
        """Record one more failure and return the jittered delay to wait before retrying."""
        self.failures += 1
        jitter = self.rng.uniform(self.policy.jitter_low, self.policy.jitter_high)
        return self.policy.base_delay(self.failures) * jitter

    def reset(self) -> None:
        """Forget past failures (after a stable period)."""
        self.failures = 0
