"""Static sharding: which shard of N runs a camera (rendezvous hashing), and ``I/N`` parsing.

Rendezvous (highest random weight) hashing: camera ``c`` goes to the shard ``s`` with the
highest ``h(c, s)``. Going from N to N+1 shards moves only the cameras the new shard wins
(about 1/(N+1) of them); going to N-1 moves only the removed shard's cameras. ``h`` is the
first 8 bytes of BLAKE2b over ``"<camera id>\\0<shard>"``: stable across processes, hosts and
Python versions, unlike the salted built-in ``hash()``.

Plain rendezvous hashing leaves the busiest shard about 1 + 1.5/sqrt(cameras per shard) times
the mean (1.15 at 100 cameras per shard), and with few cameras some shard often gets none.
``assign`` therefore bounds each shard's load to ``ceil(mean) + floor(slack x mean)``
(consistent hashing with bounded loads, Mirrokni et al. 2018): cameras are placed in a fixed
order (their own hash), each on its highest-ranked shard that still has room. Every instance
computes the same table from the same camera list.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kvs_pool.errors import ConfigError

__all__ = ["Shard", "parse_shard", "rank", "score", "assign", "shard_loads", "SLACK"]

SLACK = 0.1              # a shard may carry up to 10 % more than the mean load
_ORDINAL = re.compile(r"-(\d+)$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0 <= index < count)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str, where: str = "--shard", hostname: str | None = None) -> Shard:
    """``"I/N"`` or ``"auto/N"`` -> Shard; ``auto`` takes I from the host name's ``-<ordinal>``
    suffix (a StatefulSet pod ``kvs-pool-3``). A ConfigError says what is wrong and where."""
    index_text, sep, count_text = text.strip().partition("/")
    if not sep or not count_text.strip().lstrip("-").isdigit():
        raise ConfigError([f"{where}: {text!r} is not a shard I/N or auto/N (e.g. 0/3)"])
    count = int(count_text)
    if count <= 0:
        raise ConfigError([f"{where}: the shard count N must be at least 1 (got {count})"])
    if index_text.strip() == "auto":
        index = _ordinal(hostname if hostname is not None else _hostname(), where)
    elif index_text.strip().lstrip("-").isdigit():
        index = int(index_text)
    else:
        raise ConfigError([f"{where}: {text!r}: the shard index must be a number or auto"])
    if not 0 <= index < count:
        raise ConfigError([f"{where}: shard index {index} is outside 0..{count - 1} "
                           f"(shards are numbered from 0; got {text!r})"])
    return Shard(index, count)


def _hostname() -> str:
    return os.environ.get("HOSTNAME") or os.uname().nodename


def _ordinal(hostname: str, where: str) -> int:
    found = _ORDINAL.search(hostname)
    if not found:
        raise ConfigError([f"{where}: auto needs a host name ending in -<ordinal> (a "
                           f"StatefulSet pod such as kvs-pool-0); this host is {hostname!r}"])
    return int(found.group(1))


def score(camera_id: str, shard: int | str) -> int:
    """The camera's stable random weight for a shard (or an instance id, in leases mode)."""
    digest = hashlib.blake2b(f"{camera_id}\0{shard}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rank(camera_id: str, count: int) -> list[int]:
    """Shards in this camera's order of preference (plain rendezvous hashing: the first)."""
    return sorted(range(count), key=lambda shard: score(camera_id, shard), reverse=True)


def assign(camera_ids: Sequence[str], count: int, weights: Mapping[str, float] | None = None,
           slack: float | None = SLACK) -> dict[str, int]:
    """camera id -> shard index, for ``count`` shards. ``slack=None``: plain rendezvous."""
    weights = weights or {}
    if slack is None:
        return {camera: rank(camera, count)[0] for camera in camera_ids}
    total = sum(weights.get(camera, 1.0) for camera in camera_ids)
    mean = total / count
    capacity = math.ceil(mean) + math.floor(mean * slack)  # few cameras: no slack at all
    loads = [0.0] * count
    table: dict[str, int] = {}
    for camera in sorted(camera_ids, key=lambda c: (score(c, -1), c)):
        weight = weights.get(camera, 1.0)
        order = rank(camera, count)
        shard = next((s for s in order if loads[s] + weight <= capacity),
                     min(order, key=lambda s: loads[s]))
        loads[shard] += weight
        table[camera] = shard
    return table


def shard_loads(table: Mapping[str, int], count: int,
                weights: Mapping[str, float] | None = None) -> list[float]:
    """The load (sum of camera weights) of each shard under ``table``."""
    loads = [0.0] * count
    for camera, shard in table.items():
        loads[shard] += (weights or {}).get(camera, 1.0)
    return loads
