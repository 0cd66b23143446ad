"""Pick this instance's assignment from the config and the command line / environment.

Precedence for the shard: ``--shard``, then ``KVS_POOL_SHARD``, then ``pool.assignment.shard``.
A shard given while ``mode`` is ``all`` means static mode; a shard with ``mode: leases`` is a
contradiction and an error, as is ``mode: static`` without a shard.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kvs_pool.config import PoolConfig
from kvs_pool.errors import ConfigError
from kvs_pool.pool.shard import parse_shard
from kvs_pool.pool.static import StaticAssignment

if TYPE_CHECKING:
    from kvs_pool.pool.runtime import Assignment

__all__ = ["assignment_from", "SHARD_ENV", "INSTANCE_ENV"]

SHARD_ENV = "KVS_POOL_SHARD"
INSTANCE_ENV = "KVS_POOL_INSTANCE"


def _shard_text(config: PoolConfig, cli: str | None) -> tuple[str | None, str]:
    if cli:
        return cli, "--shard"
    if os.environ.get(SHARD_ENV):
        return os.environ[SHARD_ENV], SHARD_ENV
    return config.pool.assignment.shard, "pool.assignment.shard"


def assignment_from(config: PoolConfig, shard: str | None = None,
                    instance: str | None = None) -> Assignment | None:
    """The assignment hook for ``kvs-pool run`` (None: this instance runs every camera)."""
    text, where = _shard_text(config, shard)
    mode = config.pool.assignment.mode
    if mode == "leases":
        if text:
            raise ConfigError([f"{where}: a shard makes no sense with pool.assignment.mode: "
                               "leases (leases spread the cameras by themselves)"])
        from kvs_pool.pool.leasing import LeaseAssignment  # boto3 only when used
        return LeaseAssignment.start(config, instance or os.environ.get(INSTANCE_ENV))
    if text is None:
        if mode == "static":
            raise ConfigError(["pool.assignment.mode: static needs a shard: --shard I/N, "
                               f"{SHARD_ENV}=I/N or pool.assignment.shard"])
        return None
    return StaticAssignment(parse_shard(text, where))
