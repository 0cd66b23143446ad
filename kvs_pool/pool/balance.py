"""Leases mode's decisions, as pure functions of a table snapshot and a clock passed in.

The Kinesis Client Library's model: a lease or heartbeat is alive while its counter keeps
changing. Each instance times how long it has seen a counter unchanged on its *own* monotonic
clock, so no two hosts' clocks are ever compared. Each round an instance aims at a fair share
``ceil(cameras / live instances)``: it takes free or expired leases first (a camera with no
lease yet, a released one, one whose owner's heartbeat or whose own counter stood still for
``lease_s``), and only when there are none it steals one lease from the most loaded live
instance, when that instance holds at least two more than it does (so loads settle within
one of each other and nothing ping-pongs). Among candidates it prefers the cameras with the
highest rendezvous score for its own id, so instances racing for free leases want different
ones.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kvs_pool.pool.shard import score

__all__ = ["Lease", "Observer", "Round", "plan_round"]


@dataclass(frozen=True)
class Lease:
    """One camera's lease as read from the table (``counter`` -1: no item yet)."""

    camera: str
    owner: str = ""
    counter: int = -1


@dataclass
class Observer:
    """When this instance first saw each key's current counter (monotonic seconds)."""

    lease_s: float
    seen: dict[str, tuple[int, float]] = field(default_factory=dict)

    def update(self, key: str, counter: int, now: float) -> None:
        if self.seen.get(key, (None, 0.0))[0] != counter:
            self.seen[key] = (counter, now)

    def stale(self, key: str, now: float) -> bool:
        """True when the key's counter has not changed for more than ``lease_s``."""
        entry = self.seen.get(key)
        return entry is not None and now - entry[1] > self.lease_s


@dataclass(frozen=True)
class Round:
    """What to do this round: leases to take (free or expired), at most one to steal."""

    target: int
    take: tuple[Lease, ...] = ()
    steal: Lease | None = None


def _preferred(leases: Iterable[Lease], me: str) -> list[Lease]:
    return sorted(leases, key=lambda lease: score(lease.camera, me), reverse=True)


def plan_round(leases: Sequence[Lease], me: str, live: set[str],
               expired: set[str]) -> Round:
    """Decide takes and steals. ``leases``: one per configured camera; ``live``: instances
    whose heartbeat moves (``me`` included); ``expired``: cameras whose counter stood still."""
    def free(lease: Lease) -> bool:
        return lease.owner != me and (not lease.owner or lease.owner not in live
                                      or lease.camera in expired)
    held = Counter(lease.owner for lease in leases if not free(lease) and lease.owner)
    target = math.ceil(len(leases) / max(len(live), 1))
    mine = held[me]
    candidates = _preferred((lease for lease in leases if free(lease)), me)
    take = tuple(candidates[:max(target - mine, 0)])
    if take or mine >= target:
        return Round(target, take)
    others = [owner for owner in held if owner != me]
    if not others:
        return Round(target)
    victim = max(others, key=lambda owner: (held[owner], owner))
    if held[victim] - mine < 2:
        return Round(target)
    loot = _preferred((lease for lease in leases if lease.owner == victim), me)
    return Round(target, steal=loot[0])
