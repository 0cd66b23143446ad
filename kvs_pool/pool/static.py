"""Static mode: this instance runs the cameras rendezvous hashing gives to its shard.

The assignment is a pure function of the camera list and the shard count, so every instance
agrees on it without talking to the others (Prometheus's ``hashmod`` sharding is the model).
A SIGHUP reload re-computes it from the new camera list.
"""

from __future__ import annotations

from kvs_pool.config import PoolConfig
from kvs_pool.pool.compose import subset
from kvs_pool.pool.shard import Shard, assign

__all__ = ["StaticAssignment"]


class StaticAssignment:
    """The supervisor's assignment hook for shard ``shard.index`` of ``shard.count``."""

    def __init__(self, shard: Shard) -> None:
        self.shard = shard
        self.labels: tuple[tuple[str, str], ...] = (("shard", str(shard.index)),)

    def select(self, config: PoolConfig) -> PoolConfig:
        """The cameras of this shard, under the shard's own pool name ``<pool>-s<I>``."""
        table = assign(config.camera_ids, self.shard.count, config.pool.assignment.weights)
        mine = [camera for camera, shard in table.items() if shard == self.shard.index]
        return subset(config, mine, f"s{self.shard.index}")

    def poll(self) -> bool:
        """Nothing changes between reloads."""
        return False

    def close(self) -> None:
        """Nothing to release."""
