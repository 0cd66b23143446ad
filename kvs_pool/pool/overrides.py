"""Command-line settings that replace config values for this instance, on start and on every
SIGHUP reload (``--metrics-port``: two shards on one host need two ports).

``PortOverride`` wraps the instance's assignment hook (or none), so the supervisor applies the
override wherever it applies the assignment; a reload of an unchanged file then compares equal
and restarts nothing.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from kvs_pool.config import PoolConfig

if TYPE_CHECKING:
    from kvs_pool.pool.runtime import Assignment

__all__ = ["PortOverride", "with_metrics_port"]


def with_metrics_port(config: PoolConfig, port: int) -> PoolConfig:
    """``config`` with ``pool.metrics.port`` set to ``port``."""
    metrics = dataclasses.replace(config.pool.metrics, port=port)
    return dataclasses.replace(config, pool=dataclasses.replace(config.pool, metrics=metrics))


class PortOverride:
    """An assignment hook that sets the metrics port, then defers to ``inner`` (if any)."""

    def __init__(self, inner: Assignment | None, port: int) -> None:
        self.inner, self.port = inner, port
        self.labels: tuple[tuple[str, str], ...] = inner.labels if inner else ()

    def select(self, config: PoolConfig) -> PoolConfig:
        config = with_metrics_port(config, self.port)
        return self.inner.select(config) if self.inner else config

    def poll(self) -> bool:
        return self.inner.poll() if self.inner else False

    def close(self) -> None:
        if self.inner:
            self.inner.close()
