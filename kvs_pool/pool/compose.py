"""The part of a pool config one instance runs: a subset of its cameras, under its own names.

An instance of a sharded pool runs ``<pool>-<tag>`` (``tag``: ``s<I>`` for static shard I,
the instance id in leases mode), so on one host the rings (``kvspool.<pool>-<tag>.<camera>``),
the state directory (``<state_dir>/<tag>``: state file, worker stats, outbox) and the log
lines of two instances never collide, and a camera moving between two instances of one host
gets a fresh ring instead of colliding with the ring its old owner has not yet unlinked.
Pipelines keep only the cameras of the subset; a pipeline left with none is dropped.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Collection

from kvs_pool.config import NAME_PATTERN, PoolConfig
from kvs_pool.errors import ConfigError

__all__ = ["instance_name", "subset"]


def instance_name(pool: str, tag: str) -> str:
    """``<pool>-<tag>``, checked against the pool-name pattern (it names shared memory)."""
    name = f"{pool}-{tag}"
    if not re.fullmatch(NAME_PATTERN, name):
        raise ConfigError([f"pool.name: {pool!r} with instance tag {tag!r} gives {name!r}, "
                           f"which is not a valid pool name ({NAME_PATTERN}, at most 48 "
                           "characters): shorten the pool name or the instance id"])
    return name


def subset(config: PoolConfig, camera_ids: Collection[str], tag: str) -> PoolConfig:
    """``config`` reduced to ``camera_ids`` (config order kept), renamed for instance ``tag``."""
    keep = set(camera_ids)
    cameras = tuple(camera for camera in config.cameras if camera.id in keep)
    pipelines = tuple(
        dataclasses.replace(pipe, cameras=tuple(c for c in pipe.cameras if c in keep),
                            roi={c: zones for c, zones in pipe.roi.items() if c in keep})
        for pipe in config.pipelines if any(c in keep for c in pipe.cameras))
    old_dir = str(config.pool.state_dir)
    state_dir = os.path.join(old_dir, tag)
    pool = dataclasses.replace(config.pool, name=instance_name(config.pool.name, tag),
                               state_dir=state_dir)
    return dataclasses.replace(config, pool=pool, cameras=cameras, pipelines=pipelines,
                               outbox=dataclasses.replace(config.outbox, path=_outbox_path(
                                   str(config.outbox.path), old_dir, state_dir, tag)))


def _outbox_path(path: str, old_dir: str, new_dir: str, tag: str) -> str:
    """The instance's own outbox: rebased into its state dir, or ``<stem>.<tag><suffix>``."""
    if os.path.dirname(path) == old_dir:
        return os.path.join(new_dir, os.path.basename(path))
    stem, suffix = os.path.splitext(path)
    return f"{stem}.{tag}{suffix}"
